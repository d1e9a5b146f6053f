"""Credentials inside central-system operations stay off the log (DESIGN.md, Security: "no
credential in any log").

One operation carries one: ChangeConfiguration of ``AuthorizationKey`` (OCPP 1.6 Security
Whitepaper ed. 3 §2.4: the charge point's new Basic auth password, sent as the value). Its
``command.requested`` event keeps the request with the value replaced by :data:`REDACTED`
and the value itself sealed (``payload.sealed = {"value": token}``: Fernet, AES-128-CBC +
HMAC-SHA256, key derived with HKDF-SHA256 from the JWT secret — ``jwt_secret``, or the
generated ``{data_dir}/jwt-secret`` — which every process of one deployment shares); the gateway that sends the CALL opens it, and records the CALL frame
redacted (``payload.redacted = ["value"]``, ``raw`` then not the exact text sent). Only the
password's scrypt hash reaches the registry (:mod:`.effects`).
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from chargelog.adapters.config import Settings
from chargelog.adapters.config.secret import jwt_secret

REDACTED = "<redacted>"


class SealError(ValueError):
    """A sealed value cannot be opened (another deployment's secret, or tampered)."""


def secret_field(action: str, request: dict[str, Any]) -> str | None:
    """The request field holding a credential, or None."""
    if action == "ChangeConfiguration" and request.get("key") == "AuthorizationKey":
        return "value"
    return None


class Sealer:
    """Seals and opens credential values with a key derived from ``secret``."""

    @classmethod
    def of(cls, settings: Settings) -> Sealer:
        """The deployment's sealer (its JWT secret, :func:`~chargelog.adapters.config.secret.jwt_secret`)."""
        return cls(jwt_secret(settings))

    def __init__(self, secret: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"chargelog sealed command values").derive(secret.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal_request(self, action: str, request: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str] | None]:
        """(the request as logged, the ``sealed`` field map or None when nothing is secret)."""
        name = secret_field(action, request)
        if name is None or not isinstance(request.get(name), str):
            return request, None
        logged = {**request, name: REDACTED}
        return logged, {name: self._fernet.encrypt(request[name].encode()).decode()}

    def open_request(self, request: dict[str, Any], sealed: dict[str, str]) -> dict[str, Any]:
        """The request as sent to the charge point. Raises :class:`SealError`."""
        opened = copy.deepcopy(request)
        try:
            for name, token in sealed.items():
                opened[name] = self._fernet.decrypt(token.encode()).decode()
        except (InvalidToken, AttributeError, TypeError) as exc:
            raise SealError("a sealed value cannot be opened with this deployment's jwt_secret") from exc
        return opened
