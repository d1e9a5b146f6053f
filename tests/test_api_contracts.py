"""The machine-readable contracts: docs/openapi.json (every HTTP route) and docs/asyncapi.json
(every WebSocket dialect) are generated from the pydantic models the code uses, the checked-in
copies equal what the code generates, and both are valid — OpenAPI 3.1 by
openapi-spec-validator, AsyncAPI 3.0.0 by its official JSON Schema (tests/data, vendored from
the npm package ``@asyncapi/specs`` 6.11.1, Apache-2.0, so the check runs offline)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
from openapi_spec_validator import validate
from starlette.routing import Route

from chargelog.adapters.api.app import create_app, known_endpoints
from chargelog.adapters.api.asyncapi import asyncapi_document
from chargelog.adapters.api.dialects import load_dialects
from chargelog.adapters.api.openapi import openapi_document
from chargelog.adapters.config import Settings
from chargelog.adapters.log import open_log
from chargelog.projections.runner import ProjectionWorker

DOCS = Path(__file__).resolve().parent.parent / "docs"
ASYNCAPI_SCHEMA = Path(__file__).resolve().parent / "data" / "asyncapi-3.0.0.schema.json"
REGENERATE = ("regenerate with: python -m chargelog.adapters.api.openapi > docs/openapi.json; "
              "python -m chargelog.adapters.api.asyncapi > docs/asyncapi.json")


def test_checked_in_documents_are_current():
    assert json.loads((DOCS / "openapi.json").read_text()) == openapi_document(known_endpoints()), REGENERATE
    assert json.loads((DOCS / "asyncapi.json").read_text()) == asyncapi_document(), REGENERATE


def test_openapi_document_is_valid():
    validate(json.loads((DOCS / "openapi.json").read_text()))


def test_asyncapi_document_is_valid_asyncapi_3():
    schema = json.loads(ASYNCAPI_SCHEMA.read_text())
    document = json.loads((DOCS / "asyncapi.json").read_text())
    errors = [f"{list(e.path)}: {e.message[:200]}" for e in jsonschema.Draft7Validator(schema).iter_errors(document)]
    assert errors == []
    assert unresolved_refs(document) == set()


def test_asyncapi_schema_catches_an_invalid_document():
    """The vendored schema really validates (an operation with AsyncAPI 2's ``publish``)."""
    document = json.loads((DOCS / "asyncapi.json").read_text())
    next(iter(document["operations"].values()))["action"] = "publish"
    assert not jsonschema.Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text())).is_valid(document)


def test_every_http_route_and_dialect_is_documented(tmp_path):
    settings = Settings(log="embedded", data_dir=tmp_path)
    log = open_log(settings)
    app = create_app(log, ProjectionWorker(log, settings).read_models, settings)
    paths = json.loads((DOCS / "openapi.json").read_text())["paths"]
    for route in app.routes:
        if isinstance(route, Route):
            for method in route.methods - {"HEAD"}:
                assert method.lower() in paths.get(route.path, {}), f"{method} {route.path} is not in docs/openapi.json"
    channels = json.loads((DOCS / "asyncapi.json").read_text())["channels"]
    assert {d.name for d in load_dialects()} == {"mobile", "charging", "comms"}
    assert set(channels) == {"mobileWs", "chargingWs", "commsWs"}


def unresolved_refs(document: dict) -> set[str]:
    """Local ``$ref`` targets that do not exist in ``document``."""
    refs: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                refs.add(value) if key == "$ref" and isinstance(value, str) else walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    missing = set()
    for ref in refs:
        node: object = document
        for part in re.sub(r"^#/", "", ref).split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                missing.add(ref)
                break
            node = node[part]
    return missing


def test_codec_output_conforms_to_the_models():
    """What the codecs put on the wire validates against the models the contract is generated
    from (extra fields forbidden), so the documents cannot drift from the wire."""
    from datetime import UTC, datetime

    from chargelog.adapters.api.dialects import charging_codec as ch
    from chargelog.adapters.api.dialects import charging_models as chm
    from chargelog.adapters.api.dialects import comms_codec as cc
    from chargelog.adapters.api.dialects import comms_models as cm
    from chargelog.projections.views import ChargePointView, ConnectorView, SessionView, SiteView

    at = datetime(2025, 1, 29, 12, 0, tzinfo=UTC)
    meter = {"transactionId": 789, "chargePointId": "CP001", "connectorId": 1, "energyWh": 42500.0, "powerW": 22000.0,
             "voltageV": 230.0, "currentA": 95.7, "soc": 50.0, "timestamp": "2025-01-29T14:15:00Z"}
    for message, model in (
            (ch.auth_success("m1", "user-uuid", "ws_session_abc", at), chm.AuthResponse),
            (ch.auth_failure("m1", chm.INVALID_TOKEN, "token expired"), chm.AuthFailure),
            (ch.start_response("m2", 12345, 1), chm.StartChargingResponse),
            (ch.stop_response("m3", 12345), chm.StopChargingResponse),
            (ch.charging_status_update({"chargePointId": "CP001", "connectorId": 1, "status": "Charging",
                                        "timestamp": "2024-01-15T10:30:00Z"}, 12345), chm.ChargingStatusUpdate),
            (ch.meter_values_update(meter), chm.MeterValuesUpdate),
            (ch.heartbeat("heartbeat-1"), chm.Heartbeat),
            (ch.error_message(chm.MISSING_PARAMETERS, "Missing required parameters: connectorId", id_="m2",
                              details={"missing": ["connectorId"]}), chm.Error)):
        model.model_validate(message)
    cp = ChargePointView(chargePointId="CP001", siteId="S1", online=True, availability="available", available=1,
                         total=2, maintenance=True, connectors=[ConnectorView(connectorId=1, status="Available"),
                                                                ConnectorView(connectorId=2, status="Charging")])
    site = SiteView(siteId="S1", name="Main Street", address="1 Main St", latitude=40.7, longitude=-74.0,
                    chargePoints=[cp], availability="available", available=1, total=2)
    session = SessionView(transactionId=789, chargePointId="CP001", connectorId=1, startTime=at, meterStart=1000,
                          energyWh=42500, cost=315.0, currency="EGP")
    updates = cc.charger_updates({"chargePointId": "CP001", "connectorId": 1, "status": "Faulted",
                                  "previousStatus": "Available", "errorCode": "GroundFailure",
                                  "timestamp": "2025-01-29T12:00:00Z"})
    for message, model in (
            (cc.session_started({"transactionId": 789, "chargePointId": "CP001", "connectorId": 1, "idTag": "RFID123",
                                 "meterStart": 1000, "startTime": at.isoformat()}), cm.SessionStarted),
            (cc.meter_value(meter, session=session, station=cc.StationInfo("S1", "Main Street", "1 Main St"),
                            first_soc=cc.SocSample(20.0, 17000.0)), cm.MeterValue),
            (cc.session_stopped({"transactionId": 789, "chargePointId": "CP001", "connectorId": 1, "meterStop": 15500,
                                 "energyWh": 14500, "durationS": 3600.4, "reason": "Remote",
                                 "stopTime": "2025-01-29T13:00:00Z"}), cm.SessionStopped),
            (cc.session_error("command.rejected", {"chargePointId": "CP001", "action": "RemoteStartTransaction",
                                                   "correlationId": "corr-1"}, at), cm.SessionError),
            (cc.charger_status_update(cp, "S1", at), cm.ChargerStatusUpdate),
            (updates[0], cm.StatusChanged), (updates[1], cm.ConnectorStatusChanged), (updates[2], cm.ChargerError),
            (cc.maintenance_mode(cp, at), cm.MaintenanceMode),
            (cc.charger_list_update(cc.stations_list([site], [cp])), cm.ChargerListUpdate),
            (cc.active_session_update(cc.active_session_data(session, "S1", at)), cm.ActiveSessionUpdate),
            (cc.active_session_update(None), cm.ActiveSessionUpdate),
            (cc.notification("Charging Started", "Your charging session has started", {"session_id": 789}, at),
             cm.Notification),
            (cc.error("Invalid message format"), cm.Error)):
        model.model_validate(message)
