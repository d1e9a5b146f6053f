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
import re
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


#: A stored envelope's chain field, from :data:`CHAIN_FIELD` to the end (as :func:`seal` writes it).
LINK_TEXT = re.compile(rb',"chain":\{"writer":"([^"\\]*)","seq":([0-9]+),"hash":"([0-9a-f]{64})"\}\}')


def unseal(stored: bytes) -> Link | None:
    """The link of stored envelope bytes, or None when the event carries no chain (``chain``
    missing or null). Malformed chain text also yields None (the verifier reports it as an
    event without a valid link)."""
    at = stored.rfind(CHAIN_FIELD)
    found = LINK_TEXT.fullmatch(stored, at) if at >= 0 else None
    if found is None:
        return None
    return Link(found[1].decode(), int(found[2]), bytes.fromhex(found[3].decode()), stored, at)


def link_of(previous: bytes, link: Link) -> bytes:
    """The hash ``link`` must carry when its predecessor's hash is ``previous`` (hashing the
    stored bytes in place, without building the canonical copy)."""
    return link_hash(previous, link.writer, link.seq, memoryview(link.stored)[:link.at], UNSEALED_END)
