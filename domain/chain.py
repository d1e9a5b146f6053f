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


def link_hash(previous: bytes, writer: str, seq: int, *canonical: bytes | memoryview) -> bytes:
    """SHA-256 of (previous hash, ``"{writer}\\n{seq}\\n"``, canonical bytes — given whole or
    in consecutive parts): 32 bytes."""
    digest = hashlib.sha256(previous)
    digest.update(b"%s\n%d\n" % (writer.encode(), seq))
    for part in canonical:
        digest.update(part)
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
    """A stored event's chain link: its ``writer``, ``seq`` and ``hash`` (32 bytes); the
    stored bytes and where the chain field starts in them (``at``)."""

    writer: str
    seq: int
    hash: bytes
    stored: bytes
    at: int

    @property
    def canonical(self) -> bytes:
        """The event's canonical bytes: the stored ones with ``chain`` null."""
        return self.stored[:self.at] + UNSEALED_END


def unseal(stored: bytes) -> Link | None:
    """The link of stored envelope bytes, or None when the event carries no chain (``chain``
    missing or null). Malformed chain text also yields None (the verifier reports it as an
    event without a valid link)."""
    at = stored.rfind(CHAIN_FIELD)
    if at < 0 or not stored.endswith(b"}}"):
        return None
    body = stored[at + len(CHAIN_FIELD):-1]
    if not body.startswith(b'{"writer":"'):
        return None
    try:
        writer_part, seq_part, hash_part = body[11:-1].split(b",")
        digest = bytes.fromhex(hash_part[8:-1].decode())
        seq = int(seq_part[6:])
    except ValueError:
        return None
    if len(digest) != 32 or not seq_part.startswith(b'"seq":') or not hash_part.startswith(b'"hash":"'):
        return None
    return Link(writer_part[:-1].decode(), seq, digest, stored, at)


def link_of(previous: bytes, link: Link) -> bytes:
    """The hash ``link`` must carry when its predecessor's hash is ``previous`` (hashing the
    stored bytes in place, without building the canonical copy)."""
    return link_hash(previous, link.writer, link.seq, memoryview(link.stored)[:link.at], UNSEALED_END)
