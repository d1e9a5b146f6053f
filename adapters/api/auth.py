"""JWT authentication (PyJWT) for the client API.

Accepted tokens: signed with HS256 and the installation's secret
(:func:`~chargelog.adapters.config.secret.jwt_secret`: ``Settings.jwt_secret`` or the
generated ``{data_dir}/jwt-secret``), or RS256 and the public key
in ``Settings.jwt_public_key`` — only the one algorithm configured (so ``alg: none`` and any
other algorithm are refused); ``exp`` and ``iat`` are required and checked (expired, or
issued in the future → refused); the ``userId`` claim (non-empty string) is required.
Optional ``scopes`` claim: a list or a space-separated string of
:data:`~chargelog.adapters.api.caller.SCOPES`; absent → ``read:stations write:charging``.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from collections.abc import Iterable
from pathlib import Path

import jwt

from chargelog.adapters.config import Settings
from chargelog.adapters.config.secret import jwt_secret

from .caller import DEFAULT_JWT_SCOPES, SCOPES, Caller, CoreError

#: Clock skew tolerated on ``exp``/``iat`` (s).
LEEWAY_S = 5


def parse_scopes(value: object) -> frozenset[str]:
    """Scopes from a claim or flag: a list, or a comma/space separated string. Raises
    ``ValueError`` naming any scope outside :data:`SCOPES`."""
    if isinstance(value, str):
        items = [s for s in value.replace(",", " ").split() if s]
    elif isinstance(value, Iterable):
        items = [str(s) for s in value]
    else:
        raise ValueError(f"scopes must be a list or a string, not {type(value).__name__}")
    unknown = set(items) - SCOPES
    if unknown:
        raise ValueError(f"unknown scopes {sorted(unknown)}; known: {sorted(SCOPES)}")
    return frozenset(items)


class JwtAuthenticator:
    """Verifies bearer JWTs against the configured key and algorithm."""

    def __init__(self, settings: Settings) -> None:
        self.algorithm = settings.jwt_algorithm
        if self.algorithm == "RS256":
            if settings.jwt_public_key is None:
                raise ValueError("jwt_algorithm RS256 needs jwt_public_key (a PEM file)")
            self.key: str = Path(settings.jwt_public_key).read_text()
        else:
            self.key = jwt_secret(settings)

    def verify(self, token: str) -> Caller:
        """The caller a token names. Raises :class:`CoreError` ``unauthorized`` for a
        malformed, forged, expired, not-yet-valid, wrongly-signed or claim-less token (the
        message never repeats the token)."""
        if not isinstance(token, str) or not token:
            raise CoreError("unauthorized", "missing token")
        try:
            claims = jwt.decode(token, self.key, algorithms=[self.algorithm], leeway=LEEWAY_S,
                                options={"require": ["exp", "iat"], "verify_iat": True})
        except jwt.ExpiredSignatureError:
            raise CoreError("unauthorized", "token expired") from None
        except jwt.InvalidTokenError as exc:
            raise CoreError("unauthorized", f"invalid token: {type(exc).__name__}") from None
        except ValueError:  # text that is not a token at all, e.g. with a lone surrogate
            raise CoreError("unauthorized", "invalid token: DecodeError") from None
        user_id = claims.get("userId")
        if not isinstance(user_id, str) or not user_id:
            raise CoreError("unauthorized", "invalid token: userId claim required")
        raw = claims.get("scopes", claims.get("scope"))
        try:
            scopes = DEFAULT_JWT_SCOPES if raw is None else parse_scopes(raw)
        except ValueError as exc:
            raise CoreError("unauthorized", f"invalid token: {exc}") from None
        return Caller(userId=user_id, scopes=scopes, via="jwt")


def issue_token(settings: Settings, user_id: str, ttl_s: float = 3600.0,
                scopes: Iterable[str] | None = None, *, private_key: str | None = None) -> str:
    """A JWT for ``user_id`` valid ``ttl_s`` seconds: HS256 with ``settings.jwt_secret``, or
    RS256 with ``private_key`` (PEM text) when ``settings.jwt_algorithm`` is RS256 (raises
    ``ValueError`` without it). Claims: userId, iat, exp, and scopes when given."""
    now = int(time.time())
    claims: dict[str, object] = {"userId": user_id, "iat": now, "exp": now + int(ttl_s)}
    if scopes is not None:
        claims["scopes"] = sorted(parse_scopes(list(scopes)))
    if settings.jwt_algorithm == "RS256":
        if not private_key:
            raise ValueError("RS256 tokens need the private key (PEM)")
        return jwt.encode(claims, private_key, algorithm="RS256")
    return jwt.encode(claims, jwt_secret(settings), algorithm="HS256")


def token_expiry(token: str) -> datetime | None:
    """The ``exp`` (UTC) of a token that has already been verified, read without verifying
    again; None when it has none."""
    with contextlib.suppress(jwt.InvalidTokenError, TypeError, ValueError, OverflowError):
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
        if isinstance(exp, int | float):
            return datetime.fromtimestamp(exp, UTC)
    return None
