"""Harness for the OCTT-named CSMS suite (no tests here).

The OCA Compliance Test Tool plays the charge point and watches what the Central System
(the system under test) answers and sends. Here the same roles: a whole chargelog stack on
loopback (OCPP gateway, projection worker, registry, client API with the operator routes
under uvicorn), a scripted charge point built on ``ocpp.v16.ChargePoint`` that answers every
central-system CALL with what the test case's step prescribes, and the operator REST API
(``POST /api/operator/commands``) as the operator who triggers CSMS-initiated steps.

Test cases: OCPP 1.6 Compliancy Test Tool — Test Case Document, System Under Test: Central
System (the list SteVe's ``Ocpp16JsonCsmsCertificationIT`` runs); docs/ocpp.md maps each
case to its test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets
from ocpp.charge_point import snake_to_camel_case
from ocpp.v16 import ChargePoint, call, call_result

from chargelog.adapters.api.app import create_app
from chargelog.adapters.api.auth import issue_token
from chargelog.adapters.config import Settings
from chargelog.adapters.log import open_log
from chargelog.adapters.ocpp.gateway import OcppGateway
from chargelog.adapters.registry import LiveRegistry
from chargelog.domain.envelope import Event
from chargelog.domain.log import DOMAIN, SOURCE, START, EventLog, Position
from chargelog.domain.registry import (ChargePointInfo, IdTag, charge_point_upserted, hash_password,
                                      id_tag_upserted, password_set)
from chargelog.projections.runner import ProjectionWorker

from conftest import ENGINES, engine_settings
from test_api_support import serve_app

#: Deadline of every wait (s): generous, so that a loaded machine slows the suite, never fails it.
TIMEOUT_S = 60.0
ADMIN = "octt-operator"

#: The id tags the test case document's configuration names (TC_023_x, TC_053).
VALID_TAG, EXPIRED_TAG, BLOCKED_TAG = "OCTT-VALID", "OCTT-EXPIRED", "OCTT-BLOCKED"
PARENT_TAG, CHILD_TAG, SIBLING_TAG = "OCTT-PARENT", "OCTT-CHILD", "OCTT-SIBLING"


def now_iso(delta_s: float = 0.0) -> str:
    """UTC now (+ ``delta_s`` s), ISO 8601 with ``Z`` (OCPP 1.6 dateTime)."""
    return (datetime.now(UTC) + timedelta(seconds=delta_s)).isoformat(timespec="seconds").replace("+00:00", "Z")


def registry_events() -> list[Event]:
    expired = datetime.now(UTC) - timedelta(days=1)
    return [id_tag_upserted(IdTag(idTag=VALID_TAG, userId="octt-user")),
            id_tag_upserted(IdTag(idTag=EXPIRED_TAG, userId="octt-user", expiryDate=expired)),
            id_tag_upserted(IdTag(idTag=BLOCKED_TAG, userId="octt-user", status="Blocked")),
            id_tag_upserted(IdTag(idTag=PARENT_TAG, userId="octt-user")),
            id_tag_upserted(IdTag(idTag=CHILD_TAG, userId="octt-user", parentIdTag=PARENT_TAG)),
            id_tag_upserted(IdTag(idTag=SIBLING_TAG, userId="octt-user", parentIdTag=PARENT_TAG))]


@dataclass
class Csms:
    """The running central system under test."""

    log: EventLog
    settings: Settings
    gateway: OcppGateway
    worker: ProjectionWorker
    registry: LiveRegistry
    http: httpx.AsyncClient
    scheme: str = "ws"

    def url(self, charge_point_id: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.gateway.port}/ocpp/{charge_point_id}"

    async def command(self, charge_point_id: str, action: str, payload: dict[str, Any], *,
                      timeout_s: float = TIMEOUT_S) -> str:
        """The operator requests ``action`` over REST; returns the correlationId."""
        response = await self.http.post("/api/operator/commands", json={
            "chargePointId": charge_point_id, "action": action, "payload": payload, "timeoutSeconds": timeout_s})
        assert response.status_code == 202, response.text
        return response.json()["correlationId"]

    async def outcome(self, correlation_id: str) -> dict[str, Any]:
        """The command's final outcome as the operator REST API reports it (its long poll:
        the API answers once the outcome is final, within :data:`TIMEOUT_S`)."""
        response = await self.http.get(f"/api/operator/commands/{correlation_id}", params={"wait": TIMEOUT_S})
        body: dict[str, Any] = response.json()
        assert body["status"] in ("answered", "failed"), f"no outcome within {TIMEOUT_S} s: {body}"
        return body

    async def operate(self, station: ScriptedStation, action: str, payload: dict[str, Any],
                      answer: dict[str, Any] | None = None) -> dict[str, Any]:
        """One CSMS-initiated step: the operator requests ``action``; the station receives
        exactly ``payload`` and answers ``answer`` (snake_case fields of the 1.6
        ``.conf``); returns the outcome the operator sees."""
        if answer is not None:
            station.script[action] = answer
        cid = await self.command(station.id, action, payload)
        received = await station.next_call(action)
        assert received == payload, (received, payload)
        return await self.outcome(cid)

    async def profile_state(self, charge_point_id: str, at: str | None = None) -> dict[str, Any]:
        """What the operator REST API shows of the charge point's profile state (as of ``at``)."""
        response = await self.http.get(f"/api/operator/charge-points/{charge_point_id}/profile-state",
                                       params={"at": at} if at else None)
        assert response.status_code == 200, response.text
        return response.json()

    async def events(self, charge_point_id: str, stream: str = SOURCE) -> list[Event]:
        return [r.event for r in await self.log.read(stream, charge_point_id=charge_point_id)]

    async def settled(self, charge_point_id: str, event_type: str, count: int = 1) -> list[Event]:
        """Wait until the translator has derived ``count`` domain events of ``event_type``
        for the charge point and the read models have folded them; returns those events."""
        found: list[Event] = []

        async def follow() -> Position:
            async with contextlib.aclosing(self.log.subscribe(DOMAIN, START)) as records:
                async for record in records:
                    if record.event.chargePointId == charge_point_id and record.event.type == event_type:
                        found.append(record.event)
                        if len(found) >= count:
                            return record.position
            raise AssertionError("domain subscription ended")

        position = await asyncio.wait_for(follow(), TIMEOUT_S)
        await asyncio.wait_for(self.worker.read_models.wait_for(position), TIMEOUT_S)
        return found


@contextlib.asynccontextmanager
async def running_csms(log: EventLog, settings: Settings, **overrides: Any) -> AsyncIterator[Csms]:
    """The whole stack on loopback with the OCTT id tags registered."""
    settings = settings.model_copy(update={"ocpp_port": 0, "ocpp_host": "127.0.0.1", "command_timeout_s": TIMEOUT_S,
                                           "id_tag_policy": "registry", **overrides})
    await log.append(SOURCE, registry_events())
    registry = LiveRegistry(log)
    await registry.start()
    worker = ProjectionWorker(log, settings, registry)
    await worker.start()
    gateway = OcppGateway(log, settings, registry)
    await gateway.start()
    app = create_app(log, worker.read_models, settings, gateway=gateway, registry=registry)
    token = issue_token(settings, ADMIN, scopes=["admin"])
    try:
        async with serve_app(app) as port, httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"},
                timeout=TIMEOUT_S + 30) as http:
            yield Csms(log, settings, gateway, worker, registry, http,
                       "wss" if settings.tls_cert is not None else "ws")
    finally:
        await asyncio.wait_for(worker.stop(), TIMEOUT_S)
        await gateway.stop()
        await registry.stop()


#: The engines the suite runs on: both (``CHARGELOG_OCTT_ENGINE=embedded|kafka``: only that one).
OCTT_ENGINES = [os.environ["CHARGELOG_OCTT_ENGINE"]] if os.environ.get("CHARGELOG_OCTT_ENGINE") else ENGINES


def module_csms(setup: Callable[[Path], dict[str, Any]] | None = None, **overrides: Any) -> Any:
    """A module-scoped ``csms`` fixture, parametrized by log engine: one stack per test module
    and engine (the embedded log, then Kafka with a fresh topic prefix); each test uses its
    own chargePointId. ``overrides``: settings (e.g. ``basic_auth=True``); ``setup(directory)``
    returns more, computed in the module's temporary directory."""

    @pytest_asyncio.fixture(scope="module", loop_scope="module", params=OCTT_ENGINES)
    async def csms(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Csms]:
        directory = tmp_path_factory.mktemp("octt")
        options = {**overrides, **(setup(directory) if setup is not None else {})}
        settings = engine_settings(request.param, directory)
        log = open_log(settings)
        await log.start()
        try:
            async with running_csms(log, settings, **options) as running:
                yield running
        finally:
            await log.close()

    return csms


async def register(csms: Csms, charge_point_id: str) -> None:
    """The charge point is configured in the central system (the OCTT's precondition)."""
    if csms.registry.current.charge_point(charge_point_id) is None:
        positions = await csms.log.append(SOURCE, [charge_point_upserted(ChargePointInfo(chargePointId=charge_point_id))])
        await csms.registry.wait_for(positions[-1])


async def set_password(csms: Csms, charge_point_id: str, password: str) -> None:
    """Security profile 1: the charge point's Basic auth password (hash in the registry)."""
    positions = await csms.log.append(SOURCE, [password_set(charge_point_id, hash_password(password))])
    await csms.registry.wait_for(positions[-1])


class ScriptedStation(ChargePoint):
    """A charge point whose answers to central-system CALLs are scripted per action
    (``script[action]``: the ``.conf`` fields in snake_case; default: the plain accepting
    answer); every CALL received is queued per action, its payload in camelCase."""

    DEFAULT_ANSWERS: dict[str, dict[str, Any]] = {
        "RemoteStartTransaction": {"status": "Accepted"}, "RemoteStopTransaction": {"status": "Accepted"},
        "Reset": {"status": "Accepted"}, "ChangeAvailability": {"status": "Accepted"},
        "ChangeConfiguration": {"status": "Accepted"}, "GetConfiguration": {},
        "ClearCache": {"status": "Accepted"}, "UnlockConnector": {"status": "Unlocked"},
        "DataTransfer": {"status": "Accepted"}, "TriggerMessage": {"status": "Accepted"},
        "GetDiagnostics": {}, "UpdateFirmware": {}, "SendLocalList": {"status": "Accepted"},
        "GetLocalListVersion": {"list_version": 0}, "ReserveNow": {"status": "Accepted"},
        "CancelReservation": {"status": "Accepted"}, "SetChargingProfile": {"status": "Accepted"},
        "ClearChargingProfile": {"status": "Accepted"}, "GetCompositeSchedule": {"status": "Rejected"},
        "CertificateSigned": {"status": "Accepted"}, "InstallCertificate": {"status": "Accepted"},
        "DeleteCertificate": {"status": "Accepted"}, "GetInstalledCertificateIds": {"status": "NotFound"},
        "GetLog": {"status": "Accepted"}, "SignedUpdateFirmware": {"status": "Accepted"},
        "ExtendedTriggerMessage": {"status": "Accepted"},
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.script: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        for action in self.DEFAULT_ANSWERS:
            self.route_map[action] = {"_on_action": self._answerer(action)}

    def _answerer(self, action: str) -> Any:
        async def answer(**payload: Any) -> Any:
            self.calls.setdefault(action, asyncio.Queue()).put_nowait(snake_to_camel_case(payload))
            fields = self.script.get(action, self.DEFAULT_ANSWERS[action])
            return getattr(call_result, action)(**fields)
        return answer

    async def next_call(self, action: str) -> dict[str, Any]:
        """The next ``action`` CALL the central system sent (waits)."""
        queue = self.calls.setdefault(action, asyncio.Queue())
        return await asyncio.wait_for(queue.get(), TIMEOUT_S)

    # -- charge-point-initiated steps, each returning the .conf payload (snake_case) --------

    async def send(self, action: str, **fields: Any) -> Any:
        return await self.call(getattr(call, action)(**fields))

    async def boot(self) -> Any:
        return await self.send("BootNotification", charge_point_model="OCTT-Model", charge_point_vendor="OCTT")

    async def status(self, connector_id: int, status: str, error_code: str = "NoError", **kw: Any) -> Any:
        return await self.send("StatusNotification", connector_id=connector_id, status=status,
                               error_code=error_code, **kw)

    async def available_all(self, connectors: int = 2) -> None:
        """StatusNotification Available for connectorId 0 and each connector."""
        for connector in range(connectors + 1):
            await self.status(connector, "Available")

    async def start_transaction(self, connector_id: int = 1, id_tag: str = VALID_TAG, **kw: Any) -> Any:
        return await self.send("StartTransaction", connector_id=connector_id, id_tag=id_tag,
                                meter_start=kw.pop("meter_start", 0), timestamp=kw.pop("timestamp", now_iso()), **kw)

    async def stop_transaction(self, transaction_id: int, meter_stop: int = 10, **kw: Any) -> Any:
        return await self.send("StopTransaction", transaction_id=transaction_id, meter_stop=meter_stop,
                               timestamp=kw.pop("timestamp", now_iso()), **kw)

    async def charging(self, connector_id: int = 1, id_tag: str = VALID_TAG, **kw: Any) -> int:
        """Reusable state Charging: Preparing, StartTransaction (Accepted), Charging."""
        await self.status(connector_id, "Preparing")
        started = await self.start_transaction(connector_id, id_tag, **kw)
        assert started.id_tag_info["status"] == "Accepted" and started.transaction_id > 0
        await self.status(connector_id, "Charging")
        return started.transaction_id


@contextlib.asynccontextmanager
async def connected(csms: Csms, charge_point_id: str | None = None, *, boot: bool = True,
                    subprotocols: list[str] | None = None, **connect: Any) -> AsyncIterator[ScriptedStation]:
    """A :class:`ScriptedStation` connected (and by default booted: reusable state Booted)."""
    cp_id = charge_point_id or f"OCTT-{uuid.uuid4().hex[:8]}"
    await register(csms, cp_id)
    async with websockets.connect(csms.url(cp_id), subprotocols=subprotocols or ["ocpp1.6"], **connect) as ws:
        cp = ScriptedStation(cp_id, ws, response_timeout=TIMEOUT_S)
        task = asyncio.create_task(cp.start())
        try:
            if boot:
                assert (await cp.boot()).status == "Accepted"
                await cp.available_all()
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await task


def client_tls(ca_file: str, cert: str | None = None, key: str | None = None) -> ssl.SSLContext:
    """A TLS client context trusting ``ca_file``, presenting ``cert``/``key`` when given."""
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context

