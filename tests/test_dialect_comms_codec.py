"""Pure formatting of the Communication Protocol pushes (adapters/api/dialects/comms_codec.py)
against the shapes of specs/websocket-communication-protocol.md, section 4."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chargelog.adapters.api.dialects import comms_codec as cc
from chargelog.projections.views import ChargePointView, ConnectorView, SessionView, SiteView

T0 = datetime(2025, 1, 29, 12, 0, tzinfo=UTC)


def cp(statuses: list[str], *, online: bool = True, availability: str = "available", available: int | None = None,
       maintenance: bool = False, cp_id: str = "CP001", site: str | None = "STATION001") -> ChargePointView:
    conns = [ConnectorView(connectorId=i + 1, status=s) for i, s in enumerate(statuses)]
    avail = sum(s == "Available" for s in statuses) if available is None else available
    return ChargePointView(chargePointId=cp_id, siteId=site, online=online, availability=availability,
                           maintenance=maintenance, available=avail, total=len(statuses), connectors=conns)


def test_display_duration_matches_document_examples() -> None:
    assert cc.display_duration(1200) == "20 min"
    assert cc.display_duration(8100) == "2hr 15min"
    assert cc.display_duration(7200) == "2hr"
    assert cc.display_duration(30) == "< 1 min"
    assert cc.display_duration(None) is None


def test_time_remaining_learns_energy_per_percent_and_uses_current_power() -> None:
    first = cc.SocSample(soc=40, energyWh=0)
    # 10 % took 6000 Wh → 600 Wh/% ; 50 % left → 30 000 Wh at 22 kW → 4909 s
    assert cc.time_remaining_s(50, 6000, 22000, first) == round(30000 / 22000 * 3600)
    assert cc.time_remaining_s(100, 6000, 22000, first) == 0
    assert cc.time_remaining_s(None, 6000, 22000, first) is None
    assert cc.time_remaining_s(40, 6000, 22000, first) is None      # SoC has not moved yet
    assert cc.time_remaining_s(50, 6000, 0, first) is None          # not charging
    assert cc.time_remaining_s(50, 6000, 22000, None) is None


def test_charger_status_update_available_shows_fraction() -> None:
    msg = cc.charger_status_update(cp(["Available", "Available", "Available", "Charging"]), "STATION001", T0)
    assert msg == {
        "type": "charger_status_update", "station_id": "STATION001", "charger_id": "CP001", "status": "available",
        "data": {"total_connectors": 4, "available_connectors": 3, "connectors_in_use": 1,
                 "connectors_unavailable": 0, "display": "3/4",
                 "connector_status": [{"connector_id": 1, "status": "Available"},
                                      {"connector_id": 2, "status": "Available"},
                                      {"connector_id": 3, "status": "Available"},
                                      {"connector_id": 4, "status": "Charging"}],
                 "station_status": "Available", "is_under_maintenance": False,
                 "timestamp": "2025-01-29T12:00:00Z"},
        "timestamp": "2025-01-29T12:00:00Z"}


def test_charger_status_update_in_use_and_maintenance_have_no_number() -> None:
    busy = cc.charger_status_update(cp(["Charging"] * 4, availability="in_use"), "STATION001", T0)
    assert busy["status"] == "in_use" and busy["data"]["display"] is None
    assert busy["data"]["connectors_in_use"] == 4 and busy["data"]["station_status"] == "In Use"
    down = cc.charger_status_update(cp(["Unavailable"] * 4, availability="unavailable", maintenance=True),
                                    "STATION001", T0)
    assert down["status"] == "unavailable" and down["data"]["display"] is None
    assert down["data"]["connectors_unavailable"] == 4 and down["data"]["is_under_maintenance"] is True
    assert down["data"]["maintenance_reason"] and down["data"]["station_status"] == "Unavailable"
    offline = cc.charger_status_update(cp(["Available"] * 2, online=False, availability="unavailable", available=0),
                                       "STATION001", T0)
    assert offline["data"]["connectors_unavailable"] == 2 and offline["data"]["is_under_maintenance"] is False
    assert "maintenance_reason" not in offline["data"]


def test_charger_updates_for_a_connector_status_change() -> None:
    payload = {"chargePointId": "CP001", "connectorId": 1, "status": "Charging", "previousStatus": "Available",
               "errorCode": "NoError", "timestamp": "2025-01-29T12:00:00Z"}
    status, connector = cc.charger_updates(payload)
    assert status == {"type": "charger_update", "charger_id": "CP001", "event": "status_changed",
                      "data": {"status": "Charging", "previous_status": "Available", "connector_id": 1,
                               "timestamp": "2025-01-29T12:00:00Z"}, "timestamp": "2025-01-29T12:00:00Z"}
    assert connector["event"] == "connector_status_changed"
    assert connector["data"] == {"connector_id": 1, "status": "Occupied", "previous_status": "Available",
                                 "error_code": None, "timestamp": "2025-01-29T12:00:00Z"}
    # Preparing → Charging keeps the connector Occupied: only status_changed
    assert [m["event"] for m in cc.charger_updates({**payload, "previousStatus": "Preparing"})] == ["status_changed"]
    faulted = cc.charger_updates({**payload, "status": "Faulted", "errorCode": "GroundFailure"})
    assert [m["event"] for m in faulted] == ["status_changed", "connector_status_changed", "error"]
    assert faulted[1]["data"]["error_code"] == "GroundFailure"


def test_meter_value_has_every_documented_field() -> None:
    session = SessionView(transactionId=789, chargePointId="CP001", connectorId=1, startTime=T0,
                          meterStart=1000, energyWh=42500, cost=315.0, currency="EGP")
    station = cc.StationInfo("STATION001", "Cillout Mansoura", "15 Tahrir Street, Downtown, Cairo")
    payload = {"transactionId": 789, "chargePointId": "CP001", "connectorId": 1, "energyWh": 42500.0,
               "powerW": 22000.0, "voltageV": 230.0, "currentA": 95.7, "soc": 50.0,
               "timestamp": (T0 + timedelta(seconds=8100)).isoformat()}
    msg = cc.meter_value(payload, session=session, station=station, first_soc=cc.SocSample(20, 17000))
    assert msg["type"] == "session_update" and msg["event"] == "meter_value"
    assert msg["session_id"] == 789 and msg["transaction_id"] == 789
    d = msg["data"]
    documented = {"charger_id", "connector_id", "station_id", "station_name", "station_address",
                  "charge_percentage", "time_remaining", "time_remaining_display", "energy_consumed",
                  "energy_consumed_unit", "cost", "cost_currency", "charging_duration",
                  "charging_duration_display", "output_power", "output_power_unit", "energy_delivered",
                  "power", "voltage", "current", "meter_value", "timestamp"}
    assert set(d) == documented
    assert d["charge_percentage"] == 50 and d["energy_consumed"] == 42.5 and d["energy_delivered"] == 42.5
    assert d["output_power"] == 22.0 and d["power"] == 22.0 and d["output_power_unit"] == "kW"
    assert d["charging_duration"] == 8100 and d["charging_duration_display"] == "2hr 15min"
    assert d["meter_value"] == 43500 and d["cost"] == 315.0 and d["cost_currency"] == "EGP"
    # 25500 Wh for 30 % → 850 Wh/%; 50 % left = 42500 Wh at 22 kW
    assert d["time_remaining"] == round(42500 / 22000 * 3600)
    assert d["time_remaining_display"] == cc.display_duration(d["time_remaining"])
    assert d["timestamp"] == msg["timestamp"] == "2025-01-29T14:15:00Z"


def test_session_started_and_stopped_shapes() -> None:
    started = cc.session_started({"transactionId": 789, "chargePointId": "CP001", "connectorId": 1,
                                  "idTag": "RFID123", "meterStart": 1000, "startTime": "2025-01-29T12:00:00+00:00"})
    assert started == {"type": "session_update", "session_id": 789, "transaction_id": 789,
                       "event": "session_started",
                       "data": {"charger_id": "CP001", "connector_id": 1, "id_tag": "RFID123",
                                "meter_start": 1000, "start_time": "2025-01-29T12:00:00Z"},
                       "timestamp": "2025-01-29T12:00:00Z"}
    stopped = cc.session_stopped({"transactionId": 789, "chargePointId": "CP001", "connectorId": 1,
                                  "meterStop": 15500, "energyWh": 14500, "durationS": 3600.0,
                                  "reason": "Remote", "stopTime": "2025-01-29T13:00:00Z"})
    assert stopped["event"] == "session_stopped"
    assert {k: stopped["data"][k] for k in ("meter_stop", "energy_delivered", "duration", "stop_time",
                                             "stop_reason")} == {
        "meter_stop": 15500, "energy_delivered": 14.5, "duration": 3600, "stop_time": "2025-01-29T13:00:00Z",
        "stop_reason": "RemoteStop"}


def test_charger_list_groups_sites_and_lone_charge_points() -> None:
    a = cp(["Available", "Available", "Available", "Charging"])
    b = cp(["Charging", "Charging"], cp_id="CP002", availability="in_use")
    lone = cp(["Available"], cp_id="CP009", site=None)
    site = SiteView(siteId="STATION001", name="Main Street Station", address="123 Main Street",
                    latitude=40.7128, longitude=-74.006, chargePoints=[a, b], availability="available",
                    available=3, total=6)
    msg = cc.charger_list_update(cc.stations_list([site], [a, b, lone]))
    assert msg["type"] == "charger_list_update" and msg["action"] == "update"
    stations = msg["data"]["chargers"]
    assert stations[0] == {
        "station_id": "STATION001", "station_name": "Main Street Station",
        "location": {"latitude": 40.7128, "longitude": -74.006, "address": "123 Main Street"},
        "chargers": [{"charger_id": "CP001", "total_connectors": 4, "available_connectors": 3,
                      "status": "available", "display": "3/4"},
                     {"charger_id": "CP002", "total_connectors": 2, "available_connectors": 0,
                      "status": "in_use", "display": None}],
        "station_status": "available", "total_connectors": 6, "available_connectors": 3, "display": "3/6"}
    assert stations[1]["station_id"] == "CP009" and stations[1]["chargers"][0]["charger_id"] == "CP009"


def test_active_session_update_with_and_without_session() -> None:
    s = SessionView(transactionId=789, chargePointId="CP001", connectorId=1, startTime=T0, energyWh=5500)
    msg = cc.active_session_update(cc.active_session_data(s, "STATION001", now=T0 + timedelta(hours=1)))
    assert msg["has_active_session"] is True and msg["data"] == {"session_id": 789, "transaction_id": 789, "charger_id": "CP001", "connector_id": 1,
                    "station_id": "STATION001", "start_time": "2025-01-29T12:00:00Z", "energy_delivered": 5.5,
                    "duration": 3600, "status": "active"}
    none = cc.active_session_update(None)
    assert none["has_active_session"] is False and none["data"] is None


def test_public_user_id_and_error_shape() -> None:
    assert cc.public_user_id("123") == 123 and cc.public_user_id("user-uuid") == "user-uuid"
    err = cc.error("Invalid message format")
    assert set(err) == {"type", "message", "timestamp"} and err["type"] == "error"
