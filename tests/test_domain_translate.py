"""Scenario tests of the fold from source events to domain events, on
real-shaped OCPP 1.6-J traces built with :class:`chargelog.domain.trace.Trace`."""

from __future__ import annotations

import pytest

from chargelog.domain.envelope import derived_event_id
from chargelog.domain.meter import read_meter_value
from chargelog.domain.model import TranslatorState
from chargelog.domain.registry import Tariff
from chargelog.domain.trace import Trace
from chargelog.domain.translate import translate_all




class Directory:
    def user_for_id_tag(self, id_tag: str) -> str | None:
        return {"TAG1": "user-1", "TAG2": "user-2"}.get(id_tag)

    def tariff_for(self, charge_point_id: str) -> Tariff | None:
        return Tariff(tariffId="t1", pricePerKwh=0.30, pricePerMinute=0.01, currency="EUR")


def fold(*batches):
    state = TranslatorState()
    events = translate_all(state, [e for batch in batches for e in batch], Directory())
    return state, events


def of_type(events, type_):
    return [e for e in events if e.type == type_]


def test_full_session_yields_started_meter_stopped_with_cost_and_user():
    t = Trace("CP1")
    _, events = fold(t.opened(), t.boot(), t.status(1, "Available"), t.start(1, "TAG1", 1000, 7),
                     t.status(1, "Charging"), t.energy(1, 7, 3000, power_w=7400, soc=40),
                     t.stop(7, 11000, reason="EVDisconnected"))
    started = of_type(events, "transaction.started")[0]
    assert started.payload["userId"] == "user-1" and started.payload["meterStart"] == 1000
    assert started.principal is not None and started.principal.id == "user-1"
    meter = of_type(events, "meter.update")[0].payload
    assert meter["energyWh"] == 2000 and meter["powerW"] == 7400 and meter["soc"] == 40
    stopped = of_type(events, "transaction.stopped")[0].payload
    assert stopped["energyWh"] == 10000 and stopped["reason"] == "EVDisconnected"
    assert stopped["durationS"] > 0
    expected = round(0.30 * 10 + 0.01 * stopped["durationS"] / 60, 2)
    assert stopped["cost"] == expected and stopped["currency"] == "EUR"


def test_domain_event_ids_are_derived_and_replay_identical():
    t = Trace("CP1")
    source = t.opened() + t.status(1, "Available") + t.start(1, "TAG1", 0, 1)
    _, first = fold(source)
    _, second = fold(source)
    assert [e.eventId for e in first] == [e.eventId for e in second]
    for event in first:
        src = next(s for s in source if s.eventId == event.causationId)
        assert event.eventId in {derived_event_id(src.eventId, i) for i in range(4)}
        assert event.chargePointId == "CP1"


def test_meter_values_after_stop_with_higher_reading_are_dropped():
    t = Trace("CP1")
    _, events = fold(t.opened(), t.start(1, "TAG1", 0, 5), t.energy(1, 5, 500), t.stop(5, 1000),
                     t.energy(1, 5, 1500))
    assert [e.payload["energyWh"] for e in of_type(events, "meter.update")] == [500]
    assert of_type(events, "transaction.stopped")[0].payload["energyWh"] == 1000


def test_start_recorded_offline_keeps_its_old_timestamp():
    t = Trace("CP1")
    old = "2025-12-31T23:00:00+00:00"
    _, events = fold(t.opened(), t.start(1, "TAG1", 0, 9, timestamp=old), t.stop(9, 100))
    assert of_type(events, "transaction.started")[0].payload["startTime"] == old
    assert of_type(events, "transaction.stopped")[0].payload["durationS"] > 3600


def test_status_notification_on_connector_zero_is_the_charge_point():
    t = Trace("CP1")
    state, events = fold(t.opened(), t.status(1, "Available"), t.status(2, "Available"),
                         t.status(0, "Unavailable"))
    change = of_type(events, "connector.status.changed")[-1].payload
    assert change["connectorId"] == 0 and change["status"] == "Unavailable"
    station = of_type(events, "station.status.changed")[-1].payload
    assert station["availability"] == "unavailable" and station["maintenance"] is True
    assert station["total"] == 2  # connector 0 is not a connector


def test_reboot_mid_transaction_keeps_it_until_the_queued_stop():
    t = Trace("CP1")
    state, events = fold(t.opened(), t.start(1, "TAG1", 0, 3), t.energy(1, 3, 800), t.closed(),
                         t.opened(), t.boot(), t.status(1, "Finishing"), t.stop(3, 900, reason="Reboot"))
    types = [e.type for e in events]
    assert types.count("station.disconnected") == 1 and types.count("station.connected") == 2
    stopped = of_type(events, "transaction.stopped")[0].payload
    assert stopped["reason"] == "Reboot" and stopped["energyWh"] == 900
    assert not state.chargePoints["CP1"].transactions


def test_stop_for_a_transaction_never_seen_is_an_anomaly_not_a_session():
    t = Trace("CP1")
    data = [{"timestamp": t.now(), "sampledValue": [{"value": "2000", "context": "Transaction.Begin"}]}]
    _, events = fold(t.opened(), t.stop(42, 2500, id_tag="TAG2", transactionData=data))
    assert not of_type(events, "transaction.stopped")
    (anomaly,) = of_type(events, "ocpp.anomaly")
    assert anomaly.payload["kind"] == "unknown-transaction" and anomaly.payload["action"] == "StopTransaction"


def test_remote_start_correlation_reaches_transaction_started():
    t = Trace("CP1")
    cmd = t.command("RemoteStartTransaction", {"connectorId": 1, "idTag": "TAG9"}, "user-9",
                    {"status": "Accepted"}, correlation_id="corr-1")
    _, events = fold(t.opened(), cmd, t.start(1, "TAG9", 0, 11))
    accepted = of_type(events, "command.accepted")[0]
    assert accepted.correlationId == "corr-1" and accepted.payload["userId"] == "user-9"
    started = of_type(events, "transaction.started")[0]
    assert started.payload["correlationId"] == "corr-1" and started.correlationId == "corr-1"
    assert started.payload["userId"] == "user-9"  # unknown tag: the requester owns it


def test_command_outcomes_rejected_failed_timed_out_once_each():
    t = Trace("CP1")
    rejected = t.command("RemoteStopTransaction", {"transactionId": 1}, "u", {"status": "Rejected"}, "c1")
    pending = t.command("Reset", {"type": "Soft"}, "u", None, "c2")
    _, events = fold(t.opened(), rejected, pending, t.command_failed("c2", "Reset", "timeout"),
                     t.command_failed("c2", "Reset", "timeout"), t.command("Reset", {}, "u", None, "c3"),
                     t.command_failed("c3", "Reset", "offline"))
    outcomes = [(e.type, e.correlationId, e.payload["reason"]) for e in events if e.type.startswith("command.")]
    assert outcomes == [("command.rejected", "c1", "Rejected"), ("command.timed_out", "c2", "timeout"),
                        ("command.failed", "c3", "offline")]


def test_station_status_vocabularies_follow_connectors():
    t = Trace("CP1")
    _, events = fold(t.opened(), t.status(1, "Available"), t.status(2, "Available"), t.status(2, "Charging"),
                     t.status(1, "Charging"), t.closed())
    seen = [(e.payload["status"], e.payload["availability"], e.payload["available"], e.payload["total"])
            for e in of_type(events, "station.status.changed")]
    assert seen == [("Offline", "unavailable", 0, 0), ("Available", "available", 1, 1), ("Available", "available", 2, 2),
                    ("Charging", "available", 1, 2), ("Charging", "in_use", 0, 2),
                    ("Offline", "unavailable", 0, 2)]


@pytest.mark.parametrize(("sampled", "field", "expected"), [
    ([{"value": "1.5", "unit": "kWh"}], "energyRegisterWh", 1500.0),
    ([{"value": "7.4", "unit": "kW", "measurand": "Power.Active.Import"}], "powerW", 7400.0),
    ([{"value": str(v), "measurand": "Power.Active.Import", "phase": p} for p, v in (("L1", 1000), ("L2", 1100), ("L3", 900))],
     "powerW", 3000.0),
    ([{"value": str(v), "measurand": "Current.Import", "phase": p} for p, v in (("L1", 16), ("L2", 15), ("L3", 17), ("N", 1))],
     "currentA", 16.0),
    ([{"value": str(v), "measurand": "Voltage", "phase": p} for p, v in (("L1-N", 230), ("L2-N", 232), ("L1-L2", 400))],
     "voltageV", 231.0),
    ([{"value": "3000", "measurand": "Power.Active.Import"},
      {"value": "1000", "measurand": "Power.Active.Import", "phase": "L1"}], "powerW", 3000.0),
    ([{"value": "55", "measurand": "SoC", "location": "EV", "unit": "Percent"}], "soc", 55.0),
    ([{"value": "900", "location": "Inlet"}], "energyRegisterWh", None),
    ([{"value": "abc"}, {"value": "x", "format": "SignedData"}], "energyRegisterWh", None),
])
def test_meter_value_units_and_phases(sampled, field, expected):
    sample = read_meter_value({"timestamp": "2026-01-01T00:00:00Z", "sampledValue": sampled})
    assert getattr(sample, field) == expected
