"""The client API core every dialect shares (docs/contracts.md, "Client core").

A dialect is a codec plus routing over :class:`ClientCore`; none touches the log or the
read models itself. Rules kept here, once:

* **Authentication**: JWT (:mod:`.auth`) or API key (:mod:`.apikeys`) → :class:`Caller`.
* **Scopes**: station map and connector status need ``read:stations``; start/stop need
  ``write:charging``; a caller's own sessions need only authentication; ``admin`` has all.
* **User isolation** (DESIGN.md, "Delivery to clients"): the station map is public; sessions,
  commands and their notifications are the owning user's (the domain event's principal).
  Reading or stopping another user's session → ``forbidden``.
* **Commands** are appended as ``command.requested`` (via
  ``chargelog.adapters.ocpp.commands.request_command``) before the call returns; the
  returned :class:`Command` follows the domain stream for the outcome.
* **Id tag of a remote start** (OCPP 1.6 §5.11 RemoteStartTransaction.req ``idTag``,
  CiString20): the caller's first id tag in the registry (domain/registry.py, when the app
  has one), else :func:`id_tag_for` the caller's userId. A client-supplied ``idTag`` is
  accepted when it is one of the caller's (registry owner = caller, or the derived tag), when
  the caller is admin, or — under the default ``id_tag_policy = "accept-all"`` — when the
  registry knows no owner for it (the documents' own examples send ``MOBILE_TEST_USER`` /
  ``USER_123``). A tag registered to another user → ``forbidden``; under ``"registry"`` an
  unknown tag → ``forbidden`` too. The session belongs to the command's principal (the
  translator gives an unowned tag's transaction to the remote start's user); the tag is never
  bound to the caller (docs/api.md, "Id tags").
* **Subscriptions and ``events_since``** read the domain stream (positions or timestamps);
  a position the log no longer holds → ``not_found``, never a silent partial replay.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chargelog.adapters.config import Settings
from chargelog.adapters.ocpp.commands import InvalidCommand, request_command
from chargelog.domain.envelope import Event, new_event_id
from chargelog.domain.log import (DOMAIN, EventLog, InvalidPosition, Position,
                                  PositionNotAvailable, Record)
from chargelog.projections.views import (ChargePointView, ConnectorView, ReadModels,
                                         SessionView, SiteView)

from .apikeys import ApiKeyStore
from .auth import JwtAuthenticator
from .throttle import AuthThrottle, claimed_user
from .caller import ADMIN, READ_STATIONS, WRITE_CHARGING, Caller, CoreError
from .commands import Command, CommandKind, Outcome
from .hub import Audience, DomainHub, follow

__all__ = ["ADMIN", "Caller", "ClientCore", "Command", "ConnectorStatus", "CoreError", "Outcome",
           "PUBLIC_EVENT_TYPES", "id_tag_for", "visible"]

#: Domain event types everybody may see (the public station map); every other type is
#: visible to the user named by the event's principal (and to admins).
PUBLIC_EVENT_TYPES: frozenset[str] = frozenset({
    "station.connected", "station.disconnected", "connector.status.changed", "station.status.changed",
    "station.last_seen"})
#: Largest ``limit`` of one ``events_since`` call.
MAX_EVENTS_LIMIT = 1000
#: Longest a query waits for the read models to fold what was already pushed (s).
READ_AFTER_PUSH_WAIT_S = 2.0


def id_tag_for(user_id: str) -> str:
    """The OCPP idTag (CiString20) a user's remote starts carry: the userId itself when it is
    1–20 printable ASCII characters, else ``"U"`` + the first 19 hex digits of its SHA-256."""
    if 0 < len(user_id) <= 20 and user_id.isascii() and user_id.isprintable():
        return user_id
    return "U" + hashlib.sha256(user_id.encode()).hexdigest()[:19]


def visible(caller: Caller, event: Event) -> bool:
    """May ``caller`` see this domain event? Public types: yes; others: only the owning
    user (principal kind "user") or an admin."""
    if event.type in PUBLIC_EVENT_TYPES or caller.is_admin:
        return True
    principal = event.principal
    return principal is not None and principal.kind == "user" and principal.id == caller.userId


@dataclass(frozen=True)
class ConnectorStatus:
    """One connector of one charge point; ``session`` is its active session when the caller
    may see it (own or admin), else None."""

    chargePointId: str
    connector: ConnectorView
    session: SessionView | None


class ClientCore:
    """Queries, commands and subscriptions for authenticated callers. ``await start()``
    begins tailing the domain stream (before any command or subscription)."""

    def __init__(self, log: EventLog, read_models: ReadModels, settings: Settings, *,
                 apikeys: ApiKeyStore | None = None, registry: Any = None) -> None:
        """``registry``: a :class:`~chargelog.adapters.registry.LiveRegistry` (optional), for
        the users' id tags."""
        self.log = log
        self.registry = registry
        self.read_models = read_models
        self.settings = settings
        self.apikeys = apikeys if apikeys is not None else ApiKeyStore(settings.data_dir)
        self.jwt = JwtAuthenticator(settings)
        self.throttle = AuthThrottle(settings)
        self.hub = DomainHub(log, stream=DOMAIN, queue_size=settings.api_subscriber_queue,
                              public_types=PUBLIC_EVENT_TYPES)

    async def start(self) -> None:
        await self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()

    # -- authentication -------------------------------------------------------------------

    async def authenticate_jwt(self, token: str, address: str | None = None) -> Caller:
        """Raises CoreError(unauthorized) (see :mod:`.auth`) or :class:`.throttle.Throttled`
        (failures of the remote ``address`` or of the claimed userId, :mod:`.throttle`)."""
        async def verify() -> Caller:
            return self.jwt.verify(token)
        return await self.throttle.attempt(address, claimed_user(token), verify)

    async def authenticate_api_key(self, key: str, address: str | None = None) -> Caller:
        """Raises CoreError(unauthorized) ("Invalid apiKey") for unknown or revoked keys, or
        :class:`.throttle.Throttled` (failures of the remote ``address``)."""
        async def verify() -> Caller:
            return self.apikeys.authenticate(key)
        return await self.throttle.attempt(address, None, verify)

    @staticmethod
    def require(caller: Caller, scope: str) -> None:
        """Raises CoreError(forbidden) unless ``caller`` holds ``scope``."""
        if not caller.has(scope):
            raise CoreError("forbidden", f"scope {scope} required")

    # -- queries --------------------------------------------------------------------------

    async def _consistent(self) -> None:
        """Monotonic reads: a query reflects every domain event this API process has already
        pushed (the read models are a separate fold of the same stream, e.g. on an API node
        of its own). Waits at most READ_AFTER_PUSH_WAIT_S s, then answers with what it has."""
        await self.caught_up(self.hub.position, READ_AFTER_PUSH_WAIT_S)

    async def stations(self, caller: Caller) -> list[ChargePointView]:
        """The public station map (needs read:stations)."""
        self.require(caller, READ_STATIONS)
        await self._consistent()
        return await self.read_models.stations()

    async def station(self, caller: Caller, station_id: str) -> ChargePointView:
        """One charge point; CoreError(not_found) when unknown. Monotonic reads: it includes
        every domain event this process has already pushed (:meth:`_consistent`)."""
        self.require(caller, READ_STATIONS)
        await self._consistent()
        return await self._station(station_id)

    async def _station(self, station_id: str) -> ChargePointView:
        view = await self.read_models.station(station_id) if isinstance(station_id, str) else None
        if view is None:
            raise CoreError("not_found", f"station {station_id!r} not found")
        return view

    async def sites(self, caller: Caller) -> list[SiteView]:
        self.require(caller, READ_STATIONS)
        return await self.read_models.sites()

    async def connector_status(self, caller: Caller, station_id: str, connector_id: int) -> ConnectorStatus:
        """A connector's status, plus its active session's meter when it is the caller's.
        CoreError(not_found) for an unknown station or connector."""
        view = await self.station(caller, station_id)
        connector = next((c for c in view.connectors if c.connectorId == connector_id), None)
        if connector is None:
            raise CoreError("not_found", f"connector {connector_id} of station {station_id!r} not found")
        session = await self.read_models.active_session_at(station_id, connector_id)
        if session is not None and not self._owns(caller, session):
            session = None
        return ConnectorStatus(station_id, connector, session)

    @staticmethod
    def _owns(caller: Caller, session: SessionView) -> bool:
        return caller.is_admin or session.userId == caller.userId

    async def active_session(self, caller: Caller, transaction_id: int | None = None) -> SessionView | None:
        """A session by transactionId (CoreError not_found / forbidden when another user's),
        or without one the caller's newest active session (None when there is none)."""
        await self._consistent()
        if transaction_id is None:
            sessions = await self.read_models.active_sessions(caller.userId)
            return max(sessions, key=lambda s: s.startTime.timestamp() if s.startTime else 0.0, default=None)
        session = await self.read_models.session(transaction_id)
        if session is None:
            raise CoreError("not_found", f"transaction {transaction_id} not found")
        if not self._owns(caller, session):
            raise CoreError("forbidden", f"transaction {transaction_id} belongs to another user")
        return session

    async def my_sessions(self, caller: Caller, limit: int = 50, offset: int = 0) -> list[SessionView]:
        """The caller's sessions, newest first."""
        if not (1 <= limit <= 500) or offset < 0:
            raise CoreError("bad_request", "limit must be 1..500 and offset ≥ 0")
        await self._consistent()
        return await self.read_models.session_history(caller.userId, limit, offset)

    # -- commands -------------------------------------------------------------------------

    async def start_charging(self, caller: Caller, station_id: str, connector_id: int,
                             id_tag: str | None = None) -> Command:
        """RemoteStartTransaction {connectorId, idTag} for ``station_id`` (OCPP 1.6 §5.11),
        appended before this returns. Errors: forbidden (scope, or another user's idTag),
        bad_request, not_found (unknown station or connector), rejected (the connector has an
        active transaction; the message names the free connectors)."""
        self.require(caller, WRITE_CHARGING)
        if not isinstance(connector_id, int) or isinstance(connector_id, bool) or connector_id < 1:
            raise CoreError("bad_request", "connectorId must be an integer ≥ 1")
        await self._consistent()  # the busy check sees what this process has already pushed
        view = await self._station(station_id)
        if view.connectors and all(c.connectorId != connector_id for c in view.connectors):
            raise CoreError("not_found", f"connector {connector_id} of station {station_id!r} not found")
        busy = next((c for c in view.connectors if c.connectorId == connector_id and c.transactionId is not None), None)
        if busy is not None:
            free = [str(c.connectorId) for c in view.connectors
                    if c.transactionId is None and c.status in ("Available", "Preparing")]
            raise CoreError("rejected", f"connector {connector_id} of {station_id} is {busy.status}; "
                                        f"free connectors: {', '.join(free) or 'none'}")
        if id_tag is not None and not caller.is_admin and not self._may_use_tag(caller, id_tag):
            raise CoreError("forbidden", "idTag does not belong to the caller")
        request = {"connectorId": connector_id, "idTag": id_tag or self.id_tag_of(caller)}
        return await self._command(caller, "start", station_id, "RemoteStartTransaction", request,
                                   connector_id=connector_id)

    def id_tag_of(self, caller: Caller) -> str:
        """The idTag the caller's remote starts carry (registry first, else derived)."""
        current = getattr(self.registry, "current", None)  # a LiveRegistry's Registry
        tags = current.id_tags_of(caller.userId) if current is not None else []
        if tags:
            return str(tags[0].idTag)
        return id_tag_for(caller.userId)

    def _may_use_tag(self, caller: Caller, id_tag: str) -> bool:
        """The caller's own tag (derived or registered to them), or under the accept-all
        policy a tag registered to nobody (see the module docstring)."""
        if id_tag == id_tag_for(caller.userId):
            return True
        lookup = getattr(self.registry, "lookup", None)
        info = lookup(id_tag) if lookup is not None else None
        if info is None:
            return self.settings.id_tag_policy == "accept-all"
        return getattr(info, "userId", None) == caller.userId

    async def stop_charging(self, caller: Caller, transaction_id: int | None = None,
                            station_id: str | None = None, connector_id: int | None = None) -> Command:
        """RemoteStopTransaction {transactionId} (OCPP 1.6 §5.12) for the caller's active
        session, by transactionId or by station + connector. Errors: bad_request, not_found
        (no such active session), forbidden (scope, or another user's session)."""
        self.require(caller, WRITE_CHARGING)
        await self._consistent()  # a stop right after the transaction.started push finds it
        if transaction_id is not None:
            if not isinstance(transaction_id, int) or isinstance(transaction_id, bool):
                raise CoreError("bad_request", "transactionId must be an integer")
            session = await self.read_models.session(transaction_id)
        elif isinstance(station_id, str) and isinstance(connector_id, int):
            session = await self.read_models.active_session_at(station_id, connector_id)
        else:
            raise CoreError("bad_request", "give transactionId, or stationId and connectorId")
        if session is None or session.status != "active":
            raise CoreError("not_found", "no active transaction there")
        if not self._owns(caller, session):
            raise CoreError("forbidden", f"transaction {session.transactionId} is not one of your active "
                                         "transactions (the start response or getMySessions names yours)")
        return await self._command(caller, "stop", session.chargePointId, "RemoteStopTransaction",
                                   {"transactionId": session.transactionId},
                                   connector_id=session.connectorId, transaction_id=session.transactionId)

    async def _command(self, caller: Caller, kind: CommandKind, charge_point_id: str, action: str,
                       request: dict[str, Any], *, connector_id: int | None = None,
                       transaction_id: int | None = None) -> Command:
        correlation_id = f"corr-{new_event_id()}"
        watch = self.hub.watch(correlation_id, transaction_id)  # before the append: no race
        command = Command(correlation_id, charge_point_id, kind, connector_id, transaction_id,
                          self.settings.api_outcome_timeout_s, self.hub, watch)
        try:
            await request_command(self.log, charge_point_id, action, request, principal=caller.principal,
                                  correlation_id=correlation_id, timeout_s=self.settings.command_timeout_s)
        except InvalidCommand as exc:
            command.close()
            raise CoreError("bad_request", str(exc)) from None
        except BaseException:
            command.close()
            raise
        return command

    # -- events ---------------------------------------------------------------------------

    async def resolve_position(self, since: str | Position | datetime) -> Position:
        """A position from a resume token, an ISO 8601 timestamp (the first record whose
        ``recordedAt``, the log's clock in whole ms, is *after* it) or a :class:`Position`; checked against the log. CoreError(bad_request) for a malformed
        value, CoreError(not_found) for a position the log does not hold."""
        if isinstance(since, str):
            text = since.strip()
            try:
                since = (datetime.fromisoformat(text.replace("Z", "+00:00"))
                         if "T" in text or ":" in text else Position.parse(text))
            except (ValueError, InvalidPosition):
                raise CoreError("bad_request", f"since is neither a position nor a timestamp: {text!r}") from None
        if isinstance(since, datetime):
            if since.tzinfo is None:
                raise CoreError("bad_request", "timestamps need a time zone (e.g. Z)")
            return await self.log.position_at(DOMAIN, after_ms(since))
        try:
            await self.log.read(DOMAIN, since, limit=1)
        except PositionNotAvailable:
            raise CoreError("not_found", f"position {since} is not available in the log") from None
        return since

    @property
    def live_position(self) -> Position:
        """The position of the domain stream's live tail (a resume token for "from now")."""
        return self.hub.position

    async def snapshot_position(self) -> Position:
        """A position every read model has folded (component-wise minimum of the projections'
        positions), taken once they have folded the hub's live position (waiting at most
        READ_AFTER_PUSH_WAIT_S s, as every query does). Take it *before* reading a snapshot
        from the read models and subscribe ``after`` it: the snapshot then includes
        everything up to it and the subscription everything after — no gap, whichever of hub
        and read models is ahead (duplicates are possible). Waiting for the hub keeps the
        subscription's catch-up within the hub's recent records (shared, in memory) instead
        of each subscriber reading and decoding the read models' lag from the log."""
        await self.caught_up(self.hub.position, READ_AFTER_PUSH_WAIT_S)
        positions = list((await self.read_models.positions()).values())
        if not positions:
            return Position()
        partitions = set().union(*(p.offsets for p in positions))
        return Position({part: min(p.get(part) for p in positions) for part in partitions})

    async def caught_up(self, position: Position, timeout_s: float = 5.0) -> bool:
        """Wait until the read models have folded the domain stream up to ``position`` (e.g.
        a pushed record's), at most ``timeout_s`` s: a push built from a domain event can
        then read views that include it. True when they have, False on timeout. (Added for
        the dialects.)"""
        try:
            await asyncio.wait_for(self.read_models.wait_for(position, DOMAIN), timeout_s)
        except TimeoutError:
            return False
        return True

    async def connected_charge_points(self) -> int:
        """How many charge points are online now (read model; public, for health/stats)."""
        return sum(1 for cp in await self.read_models.stations() if cp.online)

    def subscribe(self, caller: Caller, *, station_id: str | None = None,
                  types: Iterable[str] | None = None, after: Position | None = None) -> AsyncIterator[Record]:
        """Domain events visible to ``caller`` (of ``station_id`` and ``types`` when given),
        after ``after`` (None: from now), then live, with no gap; each record's ``position``
        is the resume token just past it. Check ``after`` with :meth:`resolve_position` first;
        iteration raises PositionNotAvailable if the log drops it meanwhile."""
        self.require(caller, READ_STATIONS)
        type_set = frozenset(types) if types else None

        def accept(event: Event) -> bool:
            return ((station_id is None or event.chargePointId == station_id)
                    and (type_set is None or event.type in type_set) and visible(caller, event))

        audience = Audience(station_id, type_set, None if caller.is_admin else caller.userId)
        return follow(self.hub, after, accept, audience)

    async def events_since(self, caller: Caller, since: str | Position | datetime, limit: int = 100, *,
                           station_id: str | None = None, types: Iterable[str] | None = None,
                           ) -> tuple[list[Record], bool, Position]:
        """Up to ``limit`` (1..1000) domain events visible to ``caller`` after ``since`` (a
        position, or a timestamp on the log's clock: ``recordedAt`` in whole ms, strictly
        after it), read from the log in ``(recordedAt ms, partition, offset)`` order — one
        order over all partitions → (records with their resume positions, hasMore, the
        position to continue from).

        Paging terminates and never skips or repeats, whether the next call passes back the
        returned ``position`` or the last event's ``recordedAt``: a page never ends inside a
        millisecond — events sharing the last one's ms are all included (a page may exceed
        ``limit`` by such ties). ``hasMore``: the log holds records after the page (they may
        turn out not to be visible). Errors: bad_request, not_found (position not held)."""
        if not isinstance(limit, int) or isinstance(limit, bool) or not (1 <= limit <= MAX_EVENTS_LIMIT):
            raise CoreError("bad_request", f"limit must be 1..{MAX_EVENTS_LIMIT}")
        position = await self.resolve_position(since)
        type_set = frozenset(types) if types else None
        end = await self.log.latest(DOMAIN)
        merge = _PartitionMerge(self.log, position, end, batch=max(limit + 1, 500))
        out: list[Record] = []
        last_ms: int | None = None
        try:
            while True:
                record = await merge.peek()
                if record is None or (len(out) >= limit and epoch_ms(record.event.recordedAt) != last_ms):
                    break
                await merge.pop()
                event = record.event
                if ((station_id is None or event.chargePointId == station_id)
                        and (type_set is None or event.type in type_set) and visible(caller, event)):
                    out.append(Record(event, record.partition, record.offset, merge.position))
                    last_ms = epoch_ms(event.recordedAt)
        except PositionNotAvailable:
            raise CoreError("not_found", f"position {position} is not available in the log") from None
        return out, not end <= merge.position, merge.position


def epoch_ms(moment: datetime) -> int:
    """Whole milliseconds since the epoch (floor): the resolution of the log's ``recordedAt``."""
    return (moment - _EPOCH) // _MS


def after_ms(moment: datetime) -> datetime:
    """The first whole millisecond after ``moment``'s millisecond (for "strictly after")."""
    return _EPOCH + timedelta(milliseconds=epoch_ms(moment) + 1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class _PartitionMerge:
    """The records of the domain stream between ``start`` and ``end``, merged over partitions
    in ``(recordedAt ms, partition, offset)`` order (each partition is in ``recordedAt`` order:
    the log stamps it at append). Each partition is read lazily, ``batch`` records at a time;
    ``position`` is just past every record popped."""

    def __init__(self, log: EventLog, start: Position, end: Position, batch: int) -> None:
        self.log, self.end, self.batch = log, end, batch
        self.position = start
        self._buffers: dict[int, deque[Record]] = {p: deque() for p, o in end.offsets.items() if start.get(p) < o}
        self._read_to: dict[int, int] = {p: start.get(p) for p in self._buffers}
        self._head: Record | None = None  # what peek found, until it is popped

    async def _fill(self, partition: int) -> None:
        after = self._read_to[partition]
        buffer = self._buffers[partition]
        if buffer or after >= self.end.get(partition):
            return
        only = Position({**self.position.offsets, partition: after})
        until = Position({**self.position.offsets, partition: self.end.get(partition)})
        records = await self.log.read(DOMAIN, only, limit=self.batch, until=until)
        buffer.extend(r for r in records if r.partition == partition)
        self._read_to[partition] = buffer[-1].offset + 1 if buffer else self.end.get(partition)

    async def peek(self) -> Record | None:
        if self._head is None:
            best_key: tuple[int, int] | None = None
            for partition, buffer in self._buffers.items():
                await self._fill(partition)
                if buffer:
                    key = (epoch_ms(buffer[0].event.recordedAt), partition)
                    if best_key is None or key < best_key:
                        self._head, best_key = buffer[0], key
        return self._head

    async def pop(self) -> None:
        record = await self.peek()
        assert record is not None
        self._buffers[record.partition].popleft()
        self._head = None
        self.position = self.position.advanced(record.partition, record.offset + 1)
