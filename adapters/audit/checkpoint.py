"""Signed checkpoints of the hash chains (docs/audit.md, "Signed checkpoints"): after a clean
``chargelog verify``, the head (last seq and hash) of every chain, signed with an Ed25519 key
(``cryptography``), written to a file the auditor keeps outside the system. A later
``chargelog verify --checkpoint FILE --public-key KEY.pub`` checks the signature and that the
log still holds each of those heads — which a rewrite of the whole chain after the edited
event (possible for anyone with write access, since the chain has no secret) cannot keep.

File shape (JSON)::

    {"checkpoint": {"version": 1, "createdAt": ISO, "streams": {stream: {"position": str,
       "heads": [[chargePointId, writer, seq, hash hex], …]}}},
     "signature": base64 Ed25519 signature of the checkpoint's canonical JSON
                  (sorted keys, no spaces, UTF-8)}
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from chargelog.domain.chain_verify import Heads
from chargelog.domain.envelope import utcnow


class CheckpointError(ValueError):
    """A checkpoint or key file that cannot be used: unreadable, malformed, or a signature
    that does not verify with the given public key."""


def generate_key(path: Path) -> Path:
    """Write a new Ed25519 private key (PKCS#8 PEM, mode 0600) to ``path`` and its public key
    (SubjectPublicKeyInfo PEM) to ``path`` + ``.pub``; returns the public key's path."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public = path.with_name(path.name + ".pub")
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return public


def _canonical(checkpoint: dict[str, Any]) -> bytes:
    return json.dumps(checkpoint, sort_keys=True, separators=(",", ":")).encode()


def write_checkpoint(path: Path, private_key: Path, streams: dict[str, tuple[str, Heads]]) -> None:
    """Sign ``streams`` (stream → (position, heads)) with the PEM key at ``private_key`` and
    write the checkpoint file. Raises :class:`CheckpointError` for a key that is not Ed25519."""
    try:
        key = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CheckpointError(f"cannot read the signing key {private_key}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{private_key} is not an Ed25519 private key")
    checkpoint = {
        "version": 1, "createdAt": utcnow().isoformat(),
        "streams": {stream: {"position": position,
                             "heads": sorted([cp, writer, seq, digest.hex()]
                                             for (cp, writer), (seq, digest) in heads.items())}
                    for stream, (position, heads) in streams.items()},
    }
    signature = key.sign(_canonical(checkpoint))
    path.write_text(json.dumps({"checkpoint": checkpoint, "signature": base64.b64encode(signature).decode()},
                               indent=1) + "\n")


def read_checkpoint(path: Path, public_key: Path) -> dict[str, Heads]:
    """The heads per stream of the checkpoint at ``path``, after checking its signature with
    the PEM public key at ``public_key``. Raises :class:`CheckpointError`."""
    try:
        document = json.loads(path.read_text())
        checkpoint, signature = document["checkpoint"], base64.b64decode(document["signature"])
        key = serialization.load_pem_public_key(public_key.read_bytes())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path} / key {public_key}: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError(f"{public_key} is not an Ed25519 public key")
    try:
        key.verify(signature, _canonical(checkpoint))
    except InvalidSignature:
        raise CheckpointError(f"the signature of {path} does not verify with {public_key}") from None
    return {stream: {(cp, writer): (int(seq), bytes.fromhex(digest))
                     for cp, writer, seq, digest in body["heads"]}
            for stream, body in checkpoint["streams"].items()}
