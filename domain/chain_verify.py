"""Re-computing the hash chains of a stream (:mod:`chargelog.domain.chain`) as it is read,
record by record, in log order; pure (the caller reads the log).

Every chain (``chargePointId``, ``writer``) must start at ``seq`` 1 from the genesis hash and
go on by one, each link's ``hash`` equal to the one re-computed from the stored bytes. When
the reading starts in the middle (``anchored=True``: ``chargelog verify --since``), the first
link seen of each chain is taken as given (its content cannot be checked without its
predecessor) and the chain is checked from there.

A :class:`Break` names where the first failure of a chain is and why; the chain then goes on
from the stored link so one edit is reported once, not at every later link.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from .chain import CHAIN_FIELD, GENESIS, LINK_TEXT, UNSEALED_END, Link, link_of, unseal

#: The chain heads of a stream: (chargePointId, writer) → (seq, hash).
Heads = dict[tuple[str, str], tuple[int, bytes]]


@dataclass(frozen=True)
class Break:
    """A broken link: the record at ``partition``/``offset`` (``position`` = the resume token
    just past it, as ``chargelog events`` prints), its ``chargePointId``, and ``reason``:
    ``"edited"`` (content does not match its hash), ``"missing"`` (links before it are absent:
    deleted events), ``"duplicate"`` (a seq already seen: re-produced or re-ordered events),
    ``"unchained"`` (no valid chain field) or ``"checkpoint"`` (a signed head differs or is
    gone); ``detail`` says more."""

    partition: int
    offset: int
    chargePointId: str
    reason: str
    detail: str
    eventId: str | None = None

    @property
    def position(self) -> str:
        return f"{self.partition}-{self.offset + 1}"


@dataclass(slots=True)
class Head:
    """The last link verified of one chain, and where it is."""

    seq: int
    hash: bytes
    partition: int
    offset: int


@dataclass
class ChainVerifier:
    """Feed records with :meth:`check` in log order (per partition); read ``breaks``,
    ``verified``, ``heads`` afterwards. ``expected`` (from a signed checkpoint): heads
    ``{(chargePointId, writer): (seq, hash)}`` the log must still contain
    (:meth:`finish` reports those never reached)."""

    anchored: bool = False
    expected: Heads = field(default_factory=dict)
    heads: dict[tuple[str, str], Head] = field(default_factory=dict)
    breaks: list[Break] = field(default_factory=list)
    verified: int = 0
    _confirmed: set[tuple[str, str]] = field(default_factory=set)
    #: the same Head objects keyed by the writer's stored bytes (the batch loop's lookup)
    _heads_by_bytes: dict[tuple[str, bytes], Head] = field(default_factory=dict, repr=False)

    def check(self, partition: int, offset: int, charge_point_id: str, stored: bytes) -> Break | None:
        """Verify one stored record of ``charge_point_id``; returns (and keeps) its Break, if any."""
        link = unseal(stored)
        if link is None:
            return self._break(partition, offset, charge_point_id, "unchained",
                               "the event carries no valid chain link", stored)
        key = (charge_point_id, link.writer)
        head = self.heads.get(key)
        problem = self._problem(head, link)
        if head is None:
            self.heads[key] = Head(link.seq, link.hash, partition, offset)
        else:  # in place: one allocation less per record
            head.seq, head.hash, head.partition, head.offset = link.seq, link.hash, partition, offset
        want = self.expected.get(key) if self.expected else None
        if want is not None and want[0] == link.seq:
            if want[1] != link.hash:
                problem = problem or ("checkpoint", f"seq {link.seq} of writer {link.writer} has another hash "
                                                    "than the signed checkpoint")
            self._confirmed.add(key)
        if problem is not None:
            return self._break(partition, offset, charge_point_id, problem[0], problem[1], stored)
        self.verified += 1
        return None

    def check_batch(self, partition: int, offsets: Sequence[int], charge_point_ids: Sequence[str],
                    values: Sequence[bytes]) -> None:
        """:meth:`check` for consecutive records of one partition (the columns of a
        :class:`~chargelog.domain.log.RawBatch`). The common case — the next link of a chain
        already seen, intact — is checked here in one loop; anything else goes through
        :meth:`check`, which keeps the breaks."""
        heads, by_bytes, verified = self.heads, self._heads_by_bytes, 0
        sha256, join, unhex = hashlib.sha256, b"".join, binascii.unhexlify
        slow = bool(self.expected)
        for offset, charge_point_id, stored in zip(offsets, charge_point_ids, values, strict=True):
            at = stored.rfind(CHAIN_FIELD)
            found = LINK_TEXT.fullmatch(stored, at) if at >= 0 and not slow else None
            if found is not None:
                writer, seq_text, hash_text = found.groups()
                seq = int(seq_text)
                head = by_bytes.get((charge_point_id, writer))
                if head is None:
                    head = heads.get((charge_point_id, writer.decode()))
                    if head is not None:
                        by_bytes[(charge_point_id, writer)] = head
                if head is not None and seq == head.seq + 1:
                    # link_hash(head.hash, writer, seq, canonical bytes), inlined: the hot loop
                    digest = sha256(join((head.hash, writer, b"\n", seq_text, b"\n", stored[:at], UNSEALED_END))).digest()
                    if digest == unhex(hash_text):
                        head.seq, head.hash, head.partition, head.offset = seq, digest, partition, offset
                        verified += 1
                        continue
            self.check(partition, offset, charge_point_id, stored)
        self.verified += verified

    def _problem(self, head: Head | None, link: Link) -> tuple[str, str] | None:
        if head is None:
            if link.seq == 1:
                previous = GENESIS
            elif self.anchored:
                return None  # the first link seen after --since: taken as given
            else:
                return ("missing", f"writer {link.writer}'s chain starts at seq {link.seq}: "
                                   f"links 1..{link.seq - 1} are not in the log")
        elif link.seq <= head.seq:
            return ("duplicate", f"seq {link.seq} of writer {link.writer} after seq {head.seq} "
                                 f"(at {head.partition}-{head.offset + 1})")
        elif link.seq > head.seq + 1:
            return ("missing", f"seq {link.seq} of writer {link.writer} follows seq {head.seq}: "
                               f"links {head.seq + 1}..{link.seq - 1} are not in the log")
        else:
            previous = head.hash
        if link_of(previous, link) != link.hash:
            return ("edited", f"the content of seq {link.seq} of writer {link.writer} does not match its hash")
        return None

    def _break(self, partition: int, offset: int, charge_point_id: str, reason: str, detail: str,
               stored: bytes) -> Break:
        found = Break(partition, offset, charge_point_id, reason, detail, _event_id(stored))
        self.breaks.append(found)
        return found

    def finish(self) -> list[Break]:
        """Breaks for signed checkpoint heads that the log no longer reaches (truncated or
        rewritten chains); call once after the last record."""
        for (charge_point_id, writer), (seq, _) in self.expected.items():
            if (charge_point_id, writer) in self._confirmed:
                continue
            head = self.heads.get((charge_point_id, writer))
            where = (head.partition, head.offset) if head else (-1, -1)
            self.breaks.append(Break(*where, charge_point_id, "checkpoint",
                                     f"the signed checkpoint has seq {seq} of writer {writer}; the log "
                                     f"{'ends at seq ' + str(head.seq) if head else 'has no such chain'}"))
        return self.breaks


def _event_id(stored: bytes) -> str | None:
    """The eventId of stored envelope bytes, by text (``eventId`` is the first field)."""
    start = stored.find(b'"eventId":"')
    if start < 0:
        return None
    start += len(b'"eventId":"')
    end = stored.find(b'"', start)
    return stored[start:end].decode(errors="replace") if end > 0 else None
