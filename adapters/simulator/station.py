"""One simulated OCPP 1.6-J charge point (``chargelog simulate``).

It connects to ``{url}/{chargePointId}`` with subprotocol ``ocpp1.6`` (and HTTP Basic auth,
OCPP 1.6 security profile 1, when given a password), sends BootNotification until Accepted
(§4.2; retrying after the returned interval when Pending or Rejected), StatusNotification for
connector 0 and each connector (§4.9), Heartbeat at the returned interval (§4.6), and
answers the central system's RemoteStartTransaction / RemoteStopTransaction (§5.11, §5.12),
ChangeAvailability (§5.2), Reset (§5.14), GetConfiguration / ChangeConfiguration (§5.8,
§5.3), TriggerMessage (§5.17), UnlockConnector (§5.18), DataTransfer (§5.6), ClearCache, and
the other profiles' and the Security Extensions' operations (:mod:`.management`).
While a transaction runs it sends MeterValues every ``meter_interval_s`` s (see
:mod:`.meter`). A dropped connection is re-opened with exponential backoff; StopTransaction
messages that could not be sent are queued and sent after the next boot (§4.10 says
transaction messages must be delivered). Transactions survive a reconnect; their meter
values resume after it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import uuid
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from .management import ManagementAnswers, ManagementState
from .meter import ChargingSession, MeterSample, ocpp_timestamp, whole_ms

logger = logging.getLogger("chargelog.simulator")
#: Every frame is logged here at INFO by the ocpp library: quiet unless asked for.
frame_logger = logging.getLogger("chargelog.simulator.frames")
frame_logger.setLevel(logging.WARNING)

#: Reconnect backoff: first delay, factor, cap (s).
BACKOFF_INITIAL_S, BACKOFF_FACTOR, BACKOFF_MAX_S = 0.5, 2.0, 30.0
#: Heartbeat interval when the central system answers 0 (s).
DEFAULT_HEARTBEAT_S = 300
#: Central system answer timeout for one CALL (s) (the ocpp library's response_timeout).
RESPONSE_TIMEOUT_S = 30


class StationOffline(ConnectionError):
    """The station has no open, booted connection to send on."""


class StationConnectError(ConnectionError):
    """The first connection attempt failed (unreachable URL, refused handshake, bad
    password). The message is one line naming the URL."""


@dataclass
class SimulationProfile:
    """Random ranges for the vehicles and, with auto transactions, the sessions.
    Powers W, energies Wh, times s, SoC %."""

    max_power_w: tuple[float, ...] = (7400.0, 11000.0, 22000.0)
    battery_wh: tuple[float, float] = (40_000.0, 90_000.0)
    start_soc: tuple[float, float] = (10.0, 60.0)
    idle_s: tuple[float, float] = (1.0, 20.0)
    session_energy_wh: tuple[float, float] = (2_000.0, 20_000.0)


@dataclass
class Connector:
    """One connector's state. ``status``: OCPP 1.6 ChargePointStatus; ``register_wh``: the
    meter's cumulative import register (Wh)."""

    connectorId: int
    status: str = "Available"
    operative: bool = True
    register_wh: float = 0.0
    transactionId: int | None = None
    idTag: str | None = None
    session: ChargingSession | None = None
    target_wh: float | None = None
    busy: bool = False
    started: int = 0
    stopped: int = 0
    meter_task: asyncio.Task[None] | None = None
    auto_task: asyncio.Task[None] | None = None
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def available(self) -> bool:
        return self.operative and not self.busy and self.transactionId is None


class _Link(ManagementAnswers, ChargePoint):
    """The ocpp library's endpoint for one WebSocket connection; handlers delegate to the
    station. ``after`` handlers are plain functions that spawn tracked station tasks."""

    def __init__(self, station: SimulatedStation, connection: ClientConnection) -> None:
        super().__init__(station.charge_point_id, connection, response_timeout=RESPONSE_TIMEOUT_S,
                         logger=frame_logger)
        self.station = station
        self.closed = asyncio.Event()

    async def route_message(self, raw_msg: str) -> None:
        self.station.on_frame(raw_msg)
        await super().route_message(raw_msg)

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag: str, call_unique_id: str, connector_id: int | None = None,
                        **_: Any) -> Any:
        conn = self.station.reserve(connector_id)
        if conn is not None:
            self.station.reserved[call_unique_id] = conn
        return call_result.RemoteStartTransaction(status="Accepted" if conn else "Rejected")

    @after(Action.remote_start_transaction)
    def after_remote_start(self, id_tag: str, call_unique_id: str, connector_id: int | None = None,
                           **_: Any) -> None:
        conn = self.station.reserved.pop(call_unique_id, None)
        if conn is not None:
            self.station.spawn(self.station.begin_transaction(conn, id_tag, remote=True))

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id: int) -> Any:
        station = self.station
        if station.connector_of(transaction_id) is not None:
            return call_result.RemoteStopTransaction(status="Accepted")
        if station._starting:  # may be the one whose StartTransaction answer is still on its way
            station.stop_on_adopt[transaction_id] = "Remote"
            return call_result.RemoteStopTransaction(status="Accepted")
        return call_result.RemoteStopTransaction(status="Rejected")

    @after(Action.remote_stop_transaction)
    def after_remote_stop(self, transaction_id: int) -> None:
        conn = self.station.connector_of(transaction_id)
        if conn is not None:
            self.station.stop_on_adopt.pop(transaction_id, None)
            self.station.spawn(self.station.stop_transaction(conn.connectorId, "Remote"))

    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str) -> Any:
        return call_result.ChangeAvailability(status=self.station.change_availability(connector_id, type))

    @on(Action.reset)
    def on_reset(self, type: str) -> Any:
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    def after_reset(self, type: str) -> None:
        self.station.spawn(self.station.reset(type))

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None) -> Any:
        known, unknown = self.station.configuration.get(key)
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str) -> Any:
        return call_result.ChangeConfiguration(status=self.station.configuration.change(key, value))

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, connector_id: int | None = None) -> Any:
        return call_result.TriggerMessage(status=self.station.trigger_status(requested_message, connector_id))

    @after(Action.trigger_message)
    def after_trigger_message(self, requested_message: str, connector_id: int | None = None) -> None:
        if self.station.trigger_status(requested_message, connector_id) == "Accepted":
            self.station.spawn(self.station.triggered(requested_message, connector_id))

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int) -> Any:
        ok = connector_id in self.station.connectors
        return call_result.UnlockConnector(status="Unlocked" if ok else "NotSupported")

    @after(Action.unlock_connector)
    def after_unlock_connector(self, connector_id: int) -> None:
        conn = self.station.connectors.get(connector_id)
        if conn is not None and conn.transactionId is not None:  # §5.18: end the transaction first
            self.station.spawn(self.station.stop_transaction(connector_id, "UnlockCommand"))
        elif conn is not None and conn.busy:  # a transaction is starting: end it once it has
            self.station.unlock_on_adopt.add(connector_id)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None, data: str | None = None) -> Any:
        if vendor_id != "chargelog":
            return call_result.DataTransfer(status="UnknownVendorId")
        return call_result.DataTransfer(status="Accepted", data=data)

    @on(Action.clear_cache)
    def on_clear_cache(self) -> Any:
        return call_result.ClearCache(status="Accepted")


class Configuration:
    """The station's OCPP 1.6 configuration keys (§9.1 core profile subset)."""

    READONLY = {"NumberOfConnectors", "SupportedFeatureProfiles", "ChargePointModel"}

    def __init__(self, station: SimulatedStation) -> None:
        self.station = station
        self.values: dict[str, str] = {
            "HeartbeatInterval": str(DEFAULT_HEARTBEAT_S),
            "MeterValueSampleInterval": f"{station.meter_interval_s:g}",
            "NumberOfConnectors": str(len(station.connectors)),
            "AuthorizeRemoteTxRequests": "false",
            "StopTransactionOnInvalidId": "true",
            "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC",
            "ConnectionTimeOut": "60",
            "SupportedFeatureProfiles": "Core,RemoteTrigger",
            "ChargePointModel": "SimCP",
        }

    def get(self, keys: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        wanted = keys or list(self.values)
        known = [{"key": k, "readonly": k in self.READONLY, "value": self.values[k]} for k in wanted if k in self.values]
        return known, [k for k in wanted if k not in self.values]

    def change(self, key: str, value: str) -> str:
        """§5.3 ConfigurationStatus: NotSupported for an unknown key, Rejected for a
        read-only key or a bad value, else Accepted (and applied)."""
        if key not in self.values:
            return "NotSupported"
        if key in self.READONLY:
            return "Rejected"
        try:
            if key in {"HeartbeatInterval", "MeterValueSampleInterval", "ConnectionTimeOut"}:
                number = float(value)
                if number <= 0:
                    return "Rejected"
                if key == "HeartbeatInterval":
                    self.station.heartbeat_interval_s = number
                elif key == "MeterValueSampleInterval":
                    self.station.meter_interval_s = number
            elif key in {"AuthorizeRemoteTxRequests", "StopTransactionOnInvalidId"} and value.lower() not in {"true", "false"}:
                return "Rejected"
        except ValueError:
            return "Rejected"
        self.values[key] = value
        return "Accepted"

    def flag(self, key: str) -> bool:
        return self.values.get(key, "false").lower() == "true"


class SimulatedStation:
    """A simulated charge point. ``connectors`` maps connectorId (1..K) to its
    :class:`Connector`; ``booted`` is set at the first accepted BootNotification;
    ``boot_count`` counts accepted boots (a reconnect or a Reset boots again)."""

    def __init__(
        self, url: str, charge_point_id: str, connectors: int = 2, *, meter_interval_s: float = 10.0,
        password: str | None = None, id_tag: str = "SIMTAG", auto_transactions: bool = False,
        profile: SimulationProfile | None = None, rng: random.Random | None = None,
    ) -> None:
        self.url = url.rstrip("/") + "/" + charge_point_id
        self.charge_point_id = charge_point_id
        self.meter_interval_s = meter_interval_s
        self.password = password
        self.id_tag = id_tag
        self.auto_transactions = auto_transactions
        self.profile = profile or SimulationProfile()
        self.rng = rng or random.Random()
        self.connectors = {n: Connector(n, register_wh=float(self.rng.randrange(0, 5_000_000)))
                           for n in range(1, connectors + 1)}
        self.configuration = Configuration(self)
        self.management = ManagementState()
        self.heartbeat_interval_s: float = DEFAULT_HEARTBEAT_S
        self.booted = asyncio.Event()
        self.boot_count = 0
        self.operative = True
        self.reserved: dict[str, Connector] = {}
        self.connected = False
        self._link: _Link | None = None
        self._pending: list[call.StopTransaction] = []
        self._starting: dict[str, tuple[Connector, ChargingSession, str]] = {}
        #: Stops asked for while the StartTransaction answer was still on its way.
        self.stop_on_adopt: dict[int, str] = {}
        self.unlock_on_adopt: set[int] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._closing = False

    # -- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and boot; returns after the first accepted BootNotification. Raises
        :class:`StationConnectError` when the first connection attempt fails."""
        if self._runner is None:
            self._ready = asyncio.get_running_loop().create_future()
            self._runner = asyncio.create_task(self._run(), name=f"sim-{self.charge_point_id}")
        assert self._ready is not None
        await asyncio.shield(self._ready)

    async def stop(self) -> None:
        """Close the connection (code 1000) and end every task; transactions are left as
        they are (a power cut, not a graceful end)."""
        self._closing = True
        tasks = [t for t in (self._runner, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._runner = None
        if self._ready is not None and not self._ready.done():
            self._ready.cancel()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a task the station tracks (and cancels on :meth:`stop`); its
        failure is logged, never lost."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reap)
        return task

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            level = logging.DEBUG if isinstance(exc, StationOffline) else logging.WARNING
            logger.log(level, "%s: %s: %s", self.charge_point_id, type(exc).__name__, exc)

    async def _run(self) -> None:
        delay = BACKOFF_INITIAL_S
        first = True
        while not self._closing:
            try:
                connection = await connect(self.url, subprotocols=[Subprotocol("ocpp1.6")],
                                           additional_headers=self._auth_headers(), open_timeout=10,
                                           ping_interval=None, max_size=2**20)
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                if first:
                    self._fail(exc)
                    return
                logger.info("%s: reconnect failed (%s); retrying in %.1f s", self.charge_point_id, exc, delay)
                await asyncio.sleep(delay * self.rng.uniform(0.8, 1.2))
                delay = min(delay * BACKOFF_FACTOR, BACKOFF_MAX_S)
                continue
            first = False
            try:
                async with connection:
                    await self._session(connection)
                    delay = BACKOFF_INITIAL_S
            except (ConnectionClosed, OSError, StationOffline) as exc:
                logger.info("%s: connection lost: %s", self.charge_point_id, exc)
            except Exception as exc:  # noqa: BLE001 - a bad answer: log, reconnect, go on
                logger.warning("%s: session ended: %s: %s", self.charge_point_id, type(exc).__name__, exc)
            if not self._closing:
                await asyncio.sleep(delay * self.rng.uniform(0.8, 1.2))
                delay = min(delay * BACKOFF_FACTOR, BACKOFF_MAX_S)

    def _fail(self, exc: BaseException) -> None:
        if isinstance(exc, InvalidStatus):
            reason = f"HTTP {exc.response.status_code}"
            if exc.response.status_code == 401:
                reason += " (wrong or missing password)"
        else:
            reason = str(exc) or type(exc).__name__
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(StationConnectError(f"cannot connect to {self.url}: {reason}"))

    def _auth_headers(self) -> dict[str, str] | None:
        if self.password is None:
            return None
        token = base64.b64encode(f"{self.charge_point_id}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def _session(self, connection: ClientConnection) -> None:
        link = _Link(self, connection)
        reader = asyncio.create_task(link.start(), name=f"sim-reader-{self.charge_point_id}")
        reader.add_done_callback(lambda _: link.closed.set())
        heartbeat: asyncio.Task[None] | None = None
        try:
            await self._race(link, self._boot(link))
            self._link, self.connected = link, True
            await self._send_statuses()
            while self._pending:
                try:
                    await self.call(self._pending[0])
                except (OCPPError, TimeoutError) as exc:
                    logger.warning("%s: queued StopTransaction dropped: %s", self.charge_point_id, exc)
                self._pending.pop(0)
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
            self.booted.set()
            heartbeat = asyncio.create_task(self._heartbeats())
            if self.auto_transactions:
                for conn in self.connectors.values():
                    if conn.auto_task is None:
                        conn.auto_task = self.spawn(self._auto(conn))
            await reader
        finally:
            self._link, self.connected = None, False
            for task in (heartbeat, reader):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, Exception):
                        await task

    @staticmethod
    async def _race(link: _Link, awaitable: Awaitable[Any]) -> Any:
        """``awaitable``'s result, or :class:`StationOffline` as soon as ``link`` closes."""
        work = asyncio.ensure_future(awaitable)
        closed = asyncio.ensure_future(link.closed.wait())
        try:
            done, _ = await asyncio.wait({work, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            if not work.done():
                work.cancel()
        if work in done:
            return work.result()
        raise StationOffline(f"{link.id}: connection closed")

    async def call(self, payload: Any, unique_id: str | None = None) -> Any:
        """Send a CALL on the open connection and return the ocpp library's result object.
        Raises :class:`StationOffline` when not connected or the connection closes first,
        ``ocpp.exceptions.OCPPError`` for a CALLERROR, TimeoutError after 30 s."""
        link = self._link
        if link is None:
            raise StationOffline(f"{self.charge_point_id}: not connected")
        return await self._race(link, link.call(payload, suppress=False, unique_id=unique_id))

    async def _boot(self, link: _Link) -> None:
        """BootNotification until Accepted (§4.2: retry after ``interval`` otherwise)."""
        while True:
            result = await link.call(call.BootNotification(
                charge_point_model="SimCP", charge_point_vendor="chargelog",
                charge_point_serial_number=f"SIM-{self.charge_point_id}", firmware_version="chargelog-sim-1"),
                suppress=False)
            interval = result.interval or DEFAULT_HEARTBEAT_S
            if result.status == "Accepted":
                self.heartbeat_interval_s = interval
                self.configuration.values["HeartbeatInterval"] = str(interval)
                self.boot_count += 1
                return
            logger.log(logging.WARNING if result.status == "Rejected" else logging.INFO,
                       "%s: BootNotification %s; retrying in %s s", self.charge_point_id, result.status, interval)
            await asyncio.sleep(interval)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval_s)
            with contextlib.suppress(OCPPError, TimeoutError):
                await self.call(call.Heartbeat())

    # -- status -----------------------------------------------------------------------

    async def status(self, connector_id: int, status: str | None = None) -> None:
        """Set (when given) and send connector ``connector_id``'s status (0: the charge
        point). Not connected: only set."""
        if connector_id == 0:
            if status is not None:
                self.operative = status != "Unavailable"
            status = "Available" if self.operative else "Unavailable"
        else:
            conn = self.connectors[connector_id]
            if status is not None:
                conn.status = status
            status = conn.status
        if self._link is None:
            return
        await self.call(call.StatusNotification(connector_id=connector_id, error_code="NoError", status=status,
                                                timestamp=ocpp_timestamp(datetime.now(UTC))))

    async def _send_statuses(self) -> None:
        for connector_id in (0, *self.connectors):
            await self.status(connector_id)

    def _resting_status(self, conn: Connector) -> str:
        return "Available" if conn.operative else "Unavailable"

    # -- transactions -----------------------------------------------------------------

    def reserve(self, connector_id: int | None) -> Connector | None:
        """Claim a connector for a remote start (§5.11): the given one if available, else
        (None given) the first available one; None when there is none."""
        if not self.operative or self._link is None:
            return None
        if connector_id is not None and connector_id > 0:
            conn = self.connectors.get(connector_id)
            candidates = [conn] if conn is not None else []
        else:
            candidates = list(self.connectors.values())
        for conn in candidates:
            if conn.available:
                conn.busy = True
                return conn
        return None

    def connector_of(self, transaction_id: int) -> Connector | None:
        return next((c for c in self.connectors.values() if c.transactionId == transaction_id), None)

    async def begin_transaction(self, conn: Connector, id_tag: str, *, remote: bool = False) -> int | None:
        """Start a transaction on a connector reserved (``busy``) for it: Preparing,
        Authorize (local starts, or remote with AuthorizeRemoteTxRequests), StartTransaction,
        Charging, a Transaction.Begin MeterValues, then periodic ones. Returns the
        transactionId, or None when authorization failed (the connector is freed)."""
        conn.busy = True
        try:
            await self.status(conn.connectorId, "Preparing")
            if not remote or self.configuration.flag("AuthorizeRemoteTxRequests"):
                result = await self.call(call.Authorize(id_tag=id_tag))
                if result.id_tag_info["status"] != "Accepted":
                    conn.busy = False  # free before telling: the central system may act at once
                    await self.status(conn.connectorId, self._resting_status(conn))
                    return None
            p = self.profile
            session = ChargingSession(datetime.now(UTC), conn.register_wh, self.rng.choice(p.max_power_w),
                                      self.rng.uniform(*p.battery_wh), self.rng.uniform(*p.start_soc), self.rng)
            unique_id = str(uuid.uuid4())
            started = conn.started
            self._starting[unique_id] = (conn, session, id_tag)
            conn.idle.clear()
            try:
                result = await self.call(call.StartTransaction(
                    connector_id=conn.connectorId, id_tag=id_tag, meter_start=round(session.meter_start_wh),
                    timestamp=ocpp_timestamp(session.start)), unique_id=unique_id)
            finally:
                self._starting.pop(unique_id, None)
            tx = result.transaction_id
            if conn.started == started:  # not adopted when the answer arrived (see on_frame)
                self._adopt(conn, tx, session, id_tag)
            if conn.transactionId != tx:
                return tx  # already stopped (a RemoteStop/Unlock/Reset right after the answer)
            if result.id_tag_info["status"] != "Accepted" and self.configuration.flag("StopTransactionOnInvalidId"):
                await self.stop_transaction(conn.connectorId, "DeAuthorized")  # §5.11 / §4.8
                return None
            # the transaction runs on if the connection drops now; a RemoteStopTransaction
            # may end it during either await
            try:
                with contextlib.suppress(StationOffline, OCPPError, TimeoutError):
                    if conn.transactionId == tx:
                        await self.status(conn.connectorId, "Charging")
                    if conn.transactionId == tx:
                        await self._meter_values(conn, session.last, "Transaction.Begin")
            finally:
                if conn.transactionId == tx and not self._closing:
                    conn.meter_task = self.spawn(self._meter_loop(conn))
            return tx
        except BaseException:
            if conn.transactionId is None:
                conn.status = self._resting_status(conn)
                conn.idle.set()
            raise
        finally:
            conn.busy = False

    def _adopt(self, conn: Connector, transaction_id: int, session: ChargingSession, id_tag: str) -> None:
        conn.transactionId, conn.idTag, conn.session = transaction_id, id_tag, session
        conn.target_wh = self.rng.uniform(*self.profile.session_energy_wh)
        conn.started += 1
        conn.stop_requested.clear()
        conn.busy = False
        reason = self.stop_on_adopt.pop(transaction_id, None)
        if conn.connectorId in self.unlock_on_adopt:
            self.unlock_on_adopt.discard(conn.connectorId)
            reason = "UnlockCommand"
        if reason is not None:
            self.spawn(self.stop_transaction(conn.connectorId, reason))

    def on_frame(self, raw: str) -> None:
        """Called by the link for every frame before it is routed: adopts a StartTransaction's
        transactionId the moment its CALLRESULT arrives, so that a RemoteStopTransaction
        right behind it (same read) finds the transaction."""
        if not self._starting or not raw.lstrip().startswith("[3"):
            return
        try:
            _, unique_id, payload = json.loads(raw)
            conn, session, id_tag = self._starting.pop(unique_id)
            self._adopt(conn, int(payload["transactionId"]), session, id_tag)
        except (ValueError, KeyError, TypeError):
            return

    async def _meter_values(self, conn: Connector, sample: MeterSample, context: str) -> None:
        await self.call(call.MeterValues(connector_id=conn.connectorId, transaction_id=conn.transactionId,
                                         meter_value=[sample.to_ocpp(context)]))

    async def _meter_loop(self, conn: Connector) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(conn.stop_requested.wait(), self.meter_interval_s)
            if conn.stop_requested.is_set() or conn.session is None:
                return
            if self._link is None:
                continue  # offline: the next sample integrates over the gap
            session = conn.session
            sample = session.sample(datetime.now(UTC))
            conn.register_wh = sample.registerWh
            with contextlib.suppress(StationOffline, OCPPError, TimeoutError):
                await self._meter_values(conn, sample, "Sample.Periodic")
            if conn.session is not session:
                return
            full = sample.soc >= 100.0
            if self.auto_transactions and (full or (conn.target_wh is not None and session.energy_wh >= conn.target_wh)):
                self.spawn(self.stop_transaction(conn.connectorId, "EVDisconnected"))
                return
            if full and conn.status == "Charging":  # the EV stops drawing; the transaction goes on
                with contextlib.suppress(StationOffline, OCPPError, TimeoutError):
                    await self.status(conn.connectorId, "SuspendedEV")

    async def stop_transaction(self, connector_id: int, reason: str = "Local") -> bool:
        """End the connector's transaction (§4.10 StopTransaction with ``reason``, §7.40) with
        a final Transaction.End reading; Finishing, then Available. Queued when offline.
        Returns False when the connector had no transaction."""
        conn = self.connectors[connector_id]
        transaction_id, session = conn.transactionId, conn.session
        if transaction_id is None or session is None:
            return False
        conn.transactionId, conn.session = None, None
        conn.stop_requested.set()
        if conn.meter_task is not None and conn.meter_task is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await conn.meter_task
        final = session.sample(datetime.now(UTC))
        conn.register_wh = final.registerWh
        payload = call.StopTransaction(
            meter_stop=round(final.registerWh), timestamp=ocpp_timestamp(final.timestamp),
            transaction_id=transaction_id, reason=reason, id_tag=conn.idTag,
            transaction_data=[final.to_ocpp("Transaction.End")])
        conn.stopped += 1
        try:
            await self.call(payload)
        except StationOffline:
            self._pending.append(payload)
        finally:
            conn.idle.set()
        with contextlib.suppress(StationOffline):
            await self.status(connector_id, "Finishing")
            await self.status(connector_id, self._resting_status(conn))
        return True

    async def _auto(self, conn: Connector) -> None:
        """With auto transactions: idle a random while, then start with the station's idTag
        (a local start: Authorize first) and let the meter loop stop at the target energy."""
        while True:
            await asyncio.sleep(self.rng.uniform(*self.profile.idle_s))
            if not (self.connected and self.operative and conn.available):
                continue
            conn.busy = True
            try:
                started = await self.begin_transaction(conn, self.id_tag)
            except (StationOffline, OCPPError, TimeoutError) as exc:
                logger.debug("%s: auto start failed: %s", self.charge_point_id, exc)
                continue
            if started is not None:
                await conn.idle.wait()

    # -- other central system requests ------------------------------------------------

    def change_availability(self, connector_id: int, kind: str) -> str:
        """§5.2: Rejected for an unknown connector; Scheduled when a targeted connector is
        in a transaction (applied when it ends); else Accepted. Statuses are sent after."""
        if connector_id != 0 and connector_id not in self.connectors:
            return "Rejected"
        operative = kind == "Operative"
        targets = list(self.connectors.values()) if connector_id == 0 else [self.connectors[connector_id]]
        scheduled = False
        for conn in targets:
            conn.operative = operative
            if conn.transactionId is not None or conn.busy:
                scheduled = True
            else:
                conn.status = self._resting_status(conn)
        if connector_id == 0:
            self.operative = operative
        self.spawn(self._send_statuses())
        return "Scheduled" if scheduled else "Accepted"

    async def reset(self, kind: str) -> None:
        """§5.14: stop every transaction (reason HardReset/SoftReset), then close the
        connection; the station reconnects and boots again."""
        for conn in list(self.connectors.values()):
            await self.stop_transaction(conn.connectorId, f"{kind}Reset")
        if self._link is not None:
            await self._link._connection.close(1000, "reset")

    def trigger_status(self, requested: str, connector_id: int | None) -> str:
        """§5.17 TriggerMessageStatus for ``requested``."""
        if connector_id is not None and connector_id != 0 and connector_id not in self.connectors:
            return "Rejected"
        supported = {"BootNotification", "Heartbeat", "StatusNotification", "MeterValues",
                     "DiagnosticsStatusNotification", "FirmwareStatusNotification"}
        return "Accepted" if requested in supported else "NotImplemented"

    async def triggered(self, requested: str, connector_id: int | None) -> None:
        """Send the message a TriggerMessage asked for."""
        if requested == "BootNotification":
            assert self._link is not None
            await self._boot(self._link)
        elif requested == "Heartbeat":
            await self.call(call.Heartbeat())
        elif requested == "StatusNotification":
            for cid in ([connector_id] if connector_id is not None else [0, *self.connectors]):
                await self.status(cid)
        elif requested == "MeterValues":
            for conn in self.connectors.values():
                if connector_id not in (None, 0, conn.connectorId):
                    continue
                sample = conn.session.last if conn.session else MeterSample(
                    whole_ms(datetime.now(UTC)), conn.register_wh, 0.0, 0.0, (230.0,) * 3, (0.0,) * 3)
                await self._meter_values(conn, sample, "Trigger")
        elif requested == "DiagnosticsStatusNotification":
            await self.call(call.DiagnosticsStatusNotification(status="Idle"))
        elif requested == "FirmwareStatusNotification":
            await self.call(call.FirmwareStatusNotification(status="Idle"))
