"""The WebSocket Communication Protocol's push connection (specs/websocket-communication-protocol.md
sections 2 and 4) at ``/?token=<JWT>`` and ``/ws?token=<JWT>``, with the test guide's
``{action, data}`` commands (specs/websocket-charging-flow-test-guide.md) on the same socket.

The handshake closes **1008** "Authentication required" (no token), "Invalid authentication
token" (bad or expired, also while connected) or "Server at capacity"
(``Settings.comms_max_connections``). Then ``connected``, ``charger_list_update``,
``active_session_update`` and the live pushes of :meth:`CommsSession.messages_for` — the
table of domain event → pushes, the choices and the commands' answers are in
docs/dialects.md ("WebSocket Communication Protocol", "Test guide commands"). Views are read
after the read models have folded the event (:meth:`ClientCore.caught_up`); a
``charger_status_update`` is sent only when it differs from the last one for that charger.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from chargelog.adapters import metrics
from chargelog.adapters.config import Settings
from chargelog.domain.log import Record
from chargelog.projections.views import ChargePointView, SessionView, SiteView

from ..caller import Caller, CoreError
from ..commands import session_from_event
from ..core import ClientCore
from ..ws.base import ApiContext, Dialect, LimitPolicy
from ..ws.router import Handler, Refusal, Request, RoutedSession, route
from ..ws.state import state_for
from ..ws.units import kwh
from . import comms_codec as cc
from . import comms_models
from .comms_actions import ActionFailed, start_session, stop_session
from .comms_models import ChargerCommandData

logger = logging.getLogger(__name__)

AUTH_REQUIRED = "Authentication required"
INVALID_TOKEN = "Invalid authentication token"
AT_CAPACITY = "Server at capacity"
POLICY_VIOLATION = 1008

SESSION_TYPES = ("transaction.started", "meter.update", "transaction.stopped")
FAILURE_TYPES = ("command.rejected", "command.failed", "command.timed_out")
STATION_TYPES = ("connector.status.changed", "station.connected", "station.disconnected", "station.status.changed")
PUSH_TYPES = SESSION_TYPES + FAILURE_TYPES + STATION_TYPES
#: The ``error`` message per refusal of the message itself (section 4.9).
MESSAGE_ERRORS = {"malformed": "Invalid message format", "oversized": "Invalid message format",
                  "throttled": "Rate limit exceeded"}


def command(name: str, *, charger: bool = False) -> Callable[[Handler], Handler]:
    """:func:`~..ws.router.route` of a test-guide command: ``{charger_id, connector_id}``
    params (``charger_id`` required when ``charger``), run alongside the push stream."""
    return route(name, ChargerCommandData, required=("charger_id",) if charger else (), background=True)


class CommsSession(RoutedSession):
    """One push connection (plus the test guide's commands on it, the ``@command`` handlers
    below) on the session engine."""

    def __init__(self, websocket: WebSocket, ctx: ApiContext) -> None:
        super().__init__(websocket, ctx, "comms", state_for(ctx.core, ctx.settings).comms_receive)
        self.known_chargers: set[str] = set()
        self.last_status: dict[str, Any] = {}
        self.maintenance: dict[str, bool] = {}
        self.first_soc: dict[int, cc.SocSample] = {}
        self.started: dict[int, dict[str, Any]] = {}

    async def run(self, first: str | None = None) -> None:
        await self.websocket.accept()
        token = self.websocket.query_params.get("token")
        try:
            caller = await self.verify(token=token) if token else None
            refusal = AUTH_REQUIRED if not token else AT_CAPACITY
        except CoreError as exc:
            caller, refusal = None, exc.message if exc.kind == "rate_limited" else INVALID_TOKEN
        if caller is None or self.state.count("comms") > self.settings.comms_max_connections:
            await self.sender.close(POLICY_VIOLATION, refusal)
            await self.end()
            return
        try:
            after = await self.core.snapshot_position()  # before the snapshot: no gap
            await self.sender.send(comms_models.Connected(userId=cc.public_user_id(caller.userId)).model_dump())
            await self._snapshot(caller)
            self.subscribe("pushes", self.core.subscribe(caller, types=PUSH_TYPES, after=after),
                           lambda record: self._push(record, caller))
            self.close_at_expiry(POLICY_VIOLATION, INVALID_TOKEN)
            await self.serve(self.dispatch)
        finally:
            await self.end()

    # -- the test guide's commands (docs/dialects.md "Test guide commands") ----------------

    def envelope(self, message: Any) -> tuple[str, Any]:
        try:
            command = comms_models.Command.model_validate(message)
        except ValidationError:
            raise Refusal("malformed", "not a command {action, data}") from None
        return command.action, command.data or {}

    def reply(self, request: Request, result: Any) -> dict[str, Any]:
        return cc.response(request.name, result)

    def error(self, request: Request, refusal: Refusal) -> dict[str, Any]:
        """``error`` for a message refused as such (:data:`MESSAGE_ERRORS`), else the command's
        ``response`` with ``{success: false, error, message}``."""
        if refusal.reason in MESSAGE_ERRORS:
            return cc.error(MESSAGE_ERRORS[refusal.reason])
        if refusal.reason == "unknown":
            return cc.response(request.name, {"success": False, "error": f"Unknown action: {request.name}",
                                              "message": f"Supported actions: {', '.join(self.routes)}"})
        return cc.response(request.name, ActionFailed.of(refusal).body())

    @command("start_charging", charger=True)
    async def start_charging(self, request: Request, p: ChargerCommandData) -> dict[str, Any]:
        return await start_session(self.core, request.user, p.charger_id or "", p.connector_id,
                                   self.settings.charging_start_wait_s)

    @command("stop_charging")
    async def stop_charging(self, request: Request, p: ChargerCommandData) -> dict[str, Any]:
        return await stop_session(self.core, request.user, p.charger_id, self.settings.charging_start_wait_s)

    @command("get_charger_status", charger=True)
    async def get_charger_status(self, request: Request, p: ChargerCommandData) -> dict[str, Any]:
        caller = request.user
        cp, station = await self.located(caller, p.charger_id or "")
        if cp is None:
            raise ActionFailed("charger_not_found", p.charger_id)
        update = cc.charger_status_update(cp, station.station_id)
        return {"success": True, "charger_id": cp.chargePointId, "station_id": station.station_id,
                "station_name": station.station_name, "status": update["status"], "online": cp.online,
                **update["data"]}

    @command("get_active_session")
    async def get_active_session(self, request: Request, _: ChargerCommandData) -> dict[str, Any]:
        caller = request.user
        session = await self.active_session_data(caller, await self.core.active_session(caller))
        return {"success": True, "has_active_session": session is not None,
                "session": session and session.model_dump()}

    @command("list_chargers")
    async def list_chargers(self, request: Request, _: ChargerCommandData) -> dict[str, Any]:
        return {"success": True, "chargers": [s.model_dump() for s in await self.stations(request.user)]}

    # -- views ----------------------------------------------------------------------------

    async def stations(self, caller: Caller) -> list[comms_models.StationEntry]:
        """The stations of ``charger_list_update`` / the test guide's ``list_chargers``."""
        return cc.stations_list(await self.core.sites(caller), await self.core.stations(caller))

    async def located(self, caller: Caller, charge_point_id: str) -> tuple[ChargePointView | None, cc.StationInfo]:
        """The charge point's view (None when the caller may not see it) and its station."""
        try:
            cp: ChargePointView | None = await self.core.station(caller, charge_point_id)
        except CoreError:
            cp = None
        site: SiteView | None = None
        if cp is not None and cp.siteId:
            site = next((s for s in await self.core.sites(caller) if s.siteId == cp.siteId), None)
        return cp, cc.station_info(cp, site, charge_point_id)

    async def active_session_data(self, caller: Caller, session: SessionView | None) -> comms_models.ActiveSession | None:
        if session is None:
            return None
        _, station = await self.located(caller, session.chargePointId)
        return cc.active_session_data(session, station.station_id)

    async def _snapshot(self, caller: Caller) -> None:
        stations = await self.stations(caller)
        self.known_chargers = {c.charger_id for s in stations for c in s.chargers}
        for cp in await self.core.stations(caller):
            self.maintenance[cp.chargePointId] = cp.maintenance
        await self.sender.send(cc.charger_list_update(stations))
        session = await self.core.active_session(caller)
        await self.sender.send(cc.active_session_update(await self.active_session_data(caller, session)))

    # -- pushes ---------------------------------------------------------------------------

    async def _push(self, record: Record, caller: Caller) -> bool:
        for message in await self.messages_for(caller, record):
            if not await self.sender.send(message):
                return False
        return True

    async def messages_for(self, caller: Caller, record: Record) -> list[dict[str, Any]]:
        """Every push for one domain record (see the module docstring's table)."""
        event = record.event
        payload = dict(event.payload)
        type_ = event.type
        if type_ in SESSION_TYPES or type_ in FAILURE_TYPES:
            return await self._session_messages(caller, record, type_, payload)
        cp_id = event.chargePointId
        out: list[dict[str, Any]] = []
        if type_ == "connector.status.changed":
            out.extend(cc.charger_updates(payload))
        cp, station = await self.state.shared(("station", event.eventId),
                                              lambda: self._station_after(caller, record, cp_id))
        if cp is None or station is None:
            return out
        if cp_id not in self.known_chargers:
            stations = await self.state.shared(("stations", event.eventId), lambda: self.stations(caller))
            self.known_chargers = {c.charger_id for s in stations for c in s.chargers} | {cp_id}
            out.append(cc.charger_list_update(stations))
        if self.maintenance.get(cp_id, False) != cp.maintenance:
            self.maintenance[cp_id] = cp.maintenance
            out.append(cc.maintenance_mode(cp, payload.get("timestamp") or event.occurredAt))
        status = cc.charger_status_update(cp, station.station_id, payload.get("timestamp") or event.occurredAt)
        fingerprint = (status["status"], {k: v for k, v in status["data"].items() if k != "timestamp"})
        if self.last_status.get(cp_id) != fingerprint:
            self.last_status[cp_id] = fingerprint
            out.append(status)
        return out

    async def _station_after(self, caller: Caller, record: Record,
                             cp_id: str) -> tuple[ChargePointView | None, cc.StationInfo | None]:
        """The public view of a charge point and its station once the read models include
        ``record`` (computed once per event for every socket: :meth:`DialectState.shared`)."""
        await self.core.caught_up(record.position)
        cp, station = await self.located(caller, cp_id)
        return (cp, station) if cp is not None else (None, None)

    async def _session_messages(self, caller: Caller, record: Record, type_: str,
                                payload: dict[str, Any]) -> list[dict[str, Any]]:
        tid = payload.get("transactionId")
        cp_id = payload.get("chargePointId") or record.event.chargePointId
        if type_ == "transaction.started":
            self.started[tid] = payload
            await self.core.caught_up(record.position)
            session = session_from_event(payload, "active")
            return [cc.session_started(payload),
                    cc.active_session_update(await self.active_session_data(caller, session)),
                    cc.notification("Charging Started", "Your charging session has started",
                                    {"session_id": tid, "charger_id": cp_id}, payload.get("startTime"))]
        if type_ == "meter.update":
            await self.core.caught_up(record.position)
            session = await self._session(caller, tid)
            _, station = await self.located(caller, cp_id)
            soc = payload.get("soc")
            if soc is not None and tid not in self.first_soc:
                self.first_soc[tid] = cc.SocSample(float(soc), float(payload.get("energyWh") or 0.0))
            return [cc.meter_value(payload, session=session, station=station, first_soc=self.first_soc.get(tid))]
        if type_ == "transaction.stopped":
            self.first_soc.pop(tid, None)
            self.started.pop(tid, None)
            await self.core.caught_up(record.position)
            remaining = await self.core.active_session(caller)
            return [cc.session_stopped(payload),
                    cc.active_session_update(await self.active_session_data(caller, remaining)),
                    cc.notification("Charging Stopped", "Your charging session has stopped",
                                    {"session_id": tid, "charger_id": cp_id,
                                     "energy_delivered": kwh(payload.get("energyWh")),
                                     "cost": payload.get("cost"), "cost_currency": payload.get("currency")},
                                    payload.get("stopTime"))]
        # a command of this user that did not succeed
        payload.setdefault("chargePointId", cp_id)
        payload.setdefault("correlationId", record.event.correlationId)
        error = cc.session_error(type_, payload, record.event.occurredAt)
        return [error, cc.notification("Charging Failed", error["data"]["message"],
                                       {"session_id": tid, "charger_id": cp_id}, record.event.occurredAt)]

    async def _session(self, caller: Caller, tid: int | None) -> SessionView | None:
        """The read model's session, else one built from the transaction.started seen."""
        if tid is not None:
            with contextlib.suppress(CoreError):
                session = await self.core.active_session(caller, tid)
                if session is not None:
                    return session
            if tid in self.started:
                return session_from_event(self.started[tid], "active")
        return None


DIALECT = Dialect("comms", CommsSession, claims_handshake=lambda websocket: "token" in websocket.query_params,
                  contract=dict(channel="commsWs", address="/?token={jwt}",
                                title="Communication Protocol push socket + test guide commands",
                                description="Also at /ws?token={jwt}. Close 1008: 'Authentication required', "
                                            "'Invalid authentication token', 'Server at capacity'.",
                                prefix="Comms", send=comms_models.SEND, receive=comms_models.RECEIVE))


def comms_routes(core: ClientCore, settings: Settings) -> list[WebSocketRoute]:
    """The root push endpoint ``/?token=<JWT>`` (the document's ``ws://host:8080?token=…``);
    ``/ws?token=`` reaches the same session through the ``/ws`` dispatch (:data:`DIALECT`)."""
    ctx = ApiContext(core, settings, LimitPolicy(settings))

    async def endpoint(websocket: WebSocket) -> None:
        with metrics.API_CONNECTIONS.labels(DIALECT.name).track_inprogress():
            await CommsSession(websocket, ctx).run()

    return [WebSocketRoute("/", endpoint, name="comms-push")]
