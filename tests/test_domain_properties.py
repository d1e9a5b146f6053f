"""Property tests of the fold: any interleaving of valid frames for a charge
point gives a consistent state; metered energy never decreases within a transaction (a lower
meterStop is believed, with an anomaly); a transaction is
never both active and stopped; replays give identical domain events."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chargelog.domain.model import TranslatorState
from chargelog.domain.trace import Trace
from chargelog.domain.translate import translate_all

STATUSES = ["Available", "Preparing", "Charging", "SuspendedEV", "Finishing", "Unavailable", "Faulted"]

op = st.one_of(
    st.tuples(st.just("opened")),
    st.tuples(st.just("closed")),
    st.tuples(st.just("offline")),
    st.tuples(st.just("status"), st.integers(0, 2), st.sampled_from(STATUSES)),
    st.tuples(st.just("start"), st.integers(1, 2), st.integers(0, 5000), st.integers(1, 6)),
    st.tuples(st.just("energy"), st.integers(1, 2), st.one_of(st.none(), st.integers(1, 6)), st.integers(0, 20000)),
    st.tuples(st.just("stop"), st.integers(1, 6), st.integers(0, 20000)),
    st.tuples(st.just("remote"), st.integers(1, 2), st.sampled_from(["Accepted", "Rejected", None])),
    st.tuples(st.just("timeout")),
)


def source_events(ops):
    t = Trace("CP1")
    events, pending = [], []
    for o in ops:
        match o:
            case ("opened",):
                events += t.opened()
            case ("closed",):
                events += t.closed()
            case ("offline",):
                events += t.offline()
            case ("status", c, s):
                events += t.status(c, s)
            case ("start", c, m, tx):
                events += t.start(c, "TAG", m, tx)
            case ("energy", c, tx, r):
                events += t.energy(c, tx, r, power_w=r / 10)
            case ("stop", tx, m):
                events += t.stop(tx, m)
            case ("remote", c, answer):
                cmd = t.command("RemoteStartTransaction", {"connectorId": c, "idTag": "TAG"}, "u",
                                None if answer is None else {"status": answer})
                events += cmd
                if answer is None:
                    pending.append(cmd[0].correlationId)
            case ("timeout",) if pending:
                events += t.command_failed(pending.pop(0), "RemoteStartTransaction", "timeout")
    return events


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, max_size=40))
def test_any_interleaving_gives_a_consistent_state(ops):
    source = source_events(ops)
    state = TranslatorState()
    events = translate_all(state, source)

    energy: dict[int, float] = {}
    started, stopped, outcomes = set(), set(), set()
    last_status: dict[int, str | None] = {}
    for e in events:
        p = e.payload
        if e.type == "transaction.started":
            assert p["transactionId"] not in started and p["transactionId"] not in stopped
            started.add(p["transactionId"])
            energy[p["transactionId"]] = 0.0
        elif e.type == "meter.update":
            tx = p["transactionId"]
            assert tx in started and tx not in stopped  # never metered once stopped
            assert p["energyWh"] >= energy[tx]  # energy never decreases
            energy[tx] = p["energyWh"]
        elif e.type == "transaction.stopped":
            tx = p["transactionId"]
            assert tx not in stopped
            stopped.add(tx)
            assert p["energyWh"] >= 0
            if tx in energy and p["energyWh"] < energy[tx]:  # meterStop wins, with an anomaly
                assert any(a.type == "ocpp.anomaly" and a.causationId == e.causationId
                           and a.payload["kind"].startswith("meter-stop-below") for a in events)
        elif e.type == "connector.status.changed":
            assert p["previousStatus"] == last_status.get(p["connectorId"])
            last_status[p["connectorId"]] = p["status"]
        elif e.type == "station.status.changed":
            assert 0 <= p["available"] <= p["total"]
            assert (p["availability"] == "available") == (p["available"] > 0)
        elif e.type.startswith("command."):
            assert e.correlationId not in outcomes  # one outcome per command
            outcomes.add(e.correlationId)

    cp = state.chargePoints.get("CP1")
    if cp is not None:
        assert not set(cp.transactions) & set(cp.stopped)  # never both active and stopped
        assert set(cp.transactions) == started - stopped
        for tx in cp.transactions.values():
            assert tx.energyWh == energy[tx.transactionId]
    # A replay gives identical domain events (deterministic eventIds and payloads).
    assert [e.model_dump() for e in translate_all(TranslatorState(), source)] == [e.model_dump() for e in events]
