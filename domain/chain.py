"""The tamper-evident hash chain carried by every event on the log (docs/audit.md, "What the
chain proves").

The appender (the log engine, at its single write point per stream) seals each event before
it is written: the envelope JSON as :meth:`Event.encode` makes it with ``chain`` null — the
event's **canonical bytes** — is hashed together with the previous link of the same chain,
and the ``chain`` field is filled in::

    "chain": {"writer": "embedded", "seq": 12, "hash": "<64 hex digits>"}

    hash(seq) = SHA-256( hash(seq - 1) as 32 bytes  ||  "{writer}\\n{seq}\\n"  ||  canonical bytes )
    hash(0)   = 32 zero bytes

A chain is keyed by (``chargePointId``, ``writer``): one per charge point and writer. The
embedded engine has one writer per data directory (``"embedded"``; ``seq`` equals the event's
sequence within its charge point, and the chain continues across restarts); each Kafka engine
instance is a writer of its own (a fresh id per process and after every failed send), because
several processes (gateways, API nodes, projection workers) append for one charge point and
only within one process is "the previous event of this charge point" known without a race.

``chain`` is the envelope's last field, so the canonical bytes are recovered from the stored
bytes by text alone (:func:`unseal`): no re-encoding, so verification checks the exact bytes
that were written. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

#: The hash before the first link of every chain.
GENESIS = bytes(32)
#: How a stored envelope's ``chain`` field starts (the last top-level field, see module doc).
CHAIN_FIELD = b',"chain":'
#: The end of an envelope whose ``chain`` is null (the canonical bytes end so).
UNSEALED_END = b',"chain":null}'


class NotSealable(ValueError):
    """The bytes to seal do not end with a null ``chain`` field (not ``Event.encode`` output)."""


def link_hash(previous: bytes, writer: str, seq: int, canonical: bytes) -> bytes:
    """SHA-256 of (previous hash, ``"{writer}\\n{seq}\\n"``, canonical bytes): 32 bytes."""
    digest = hashlib.sha256(previous)
    digest.update(b"%s\n%d\n" % (writer.encode(), seq))
    digest.update(canonical)
    return digest.digest()


def seal(canonical: bytes, writer: str, seq: int, previous: bytes) -> tuple[bytes, bytes]:
    """(the stored bytes, this link's hash) for ``canonical`` (an envelope with ``chain`` null)
    as link ``seq`` of ``writer``'s chain after ``previous``. ``writer`` must be plain text
    (no quote or backslash). Raises :class:`NotSealable`."""
    if not canonical.endswith(UNSEALED_END):
        raise NotSealable("an envelope to seal must end with a null chain field")
    digest = link_hash(previous, writer, seq, canonical)
    stored = b'%s{"writer":"%s","seq":%d,"hash":"%s"}}' % (
        canonical[:-5], writer.encode(), seq, digest.hex().encode())
    return stored, digest


@dataclass(frozen=True, slots=True)
class Link:
    """A stored event's chain link: its ``writer``, ``seq`` and ``hash`` (32 bytes), and the
    event's canonical bytes."""

    writer: str
    seq: int
    hash: bytes
    canonical: bytes


def unseal(stored: bytes) -> Link | None:
    """The link of stored envelope bytes, or None when the event carries no chain (``chain``
    missing or null). Malformed chain text also yields None (the verifier reports it as an
    event without a valid link)."""
    at = stored.rfind(CHAIN_FIELD)
    if at < 0 or not stored.endswith(b"}}"):
        return None
    body = stored[at + len(CHAIN_FIELD):-1]
    try:
        writer_part, seq_part, hash_part = body[1:-1].split(b",")
        writer = writer_part.removeprefix(b'"writer":"').removesuffix(b'"').decode()
        seq = int(seq_part.removeprefix(b'"seq":'))
        digest = bytes.fromhex(hash_part.removeprefix(b'"hash":"').removesuffix(b'"').decode())
    except ValueError:
        return None
    if len(digest) != 32 or not body.startswith(b'{"writer":"'):
        return None
    return Link(writer, seq, digest, stored[:at] + UNSEALED_END)


def link_of(previous: bytes, link: Link) -> bytes:
    """The hash ``link`` must carry when its predecessor's hash is ``previous``."""
    return link_hash(previous, link.writer, link.seq, link.canonical)
