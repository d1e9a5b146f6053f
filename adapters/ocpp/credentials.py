"""Charge-point passwords for OCPP security profile 1 (HTTP Basic auth), stored hashed.

Hash format (one string, safe to put in an event or a file)::

    scrypt$<n>$<r>$<p>$<salt, base64>$<key, base64>

``hashlib.scrypt`` (RFC 7914) with n=2**14, r=8, p=1 and a 16-byte random salt; verification
is constant-time (``hmac.compare_digest``). Costs ~50 ms of CPU: call it off the event loop.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

_N, _R, _P, _DKLEN = 2**14, 8, 1, 32


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The stored form of ``password`` (see module docstring)."""
    salt = salt if salt is not None else os.urandom(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_DKLEN)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(key).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (a :func:`hash_password` string); False for
    a wrong password or a malformed ``stored``."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                                p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
