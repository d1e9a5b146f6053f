"""The audit closure (domain/audit.py), pure: a transaction's timeline takes its frames, the
answers by messageId, the command that started it, the derived domain events and the
connection events while it ran — not the session on the other connector, nor a later frame
that happens to reuse a messageId."""

from __future__ import annotations

from datetime import timedelta

from chargelog.domain.audit import Candidate, related
from chargelog.domain.envelope import Event
from chargelog.domain.model import TranslatorState
from chargelog.domain.trace import Trace
from chargelog.domain.translate import translate_all


def candidates(events: list[Event]) -> list[Candidate]:
    """Source events, then the translator's domain events, stamped as a log would."""
    domain = translate_all(TranslatorState(), events)
    stamped = [Candidate("source", 0, i, e.model_copy(update={"recordedAt": e.occurredAt})) for i, e in enumerate(events)]
    stamped += [Candidate("domain", 0, i, e.model_copy(update={"recordedAt": e.occurredAt + timedelta(milliseconds=5)}))
                for i, e in enumerate(domain)]
    return stamped


def test_transaction_timeline_links_and_leaves_out() -> None:
    t = Trace("CP1")
    events = [*t.opened(), *t.boot(), *t.status(1, "Available"), *t.status(2, "Available")]
    remote = t.command("RemoteStartTransaction", {"connectorId": 1, "idTag": "alice"}, "alice", {"status": "Accepted"})
    events += remote + t.start(1, "alice", 1000, 7) + t.start(2, "bob", 5000, 8)
    events += t.energy(1, 7, 1500, 7400) + t.energy(2, 8, 5200, 3700)
    events += t.closed() + t.opened()  # the link drops while charging
    events += t.energy(1, 7, 1900, 7400) + t.stop(7, 2000) + t.stop(8, 6000)
    t.clock += timedelta(hours=2)
    late = t.call_in("Heartbeat", {}, {"currentTime": t.now()})
    late = [e.model_copy(update={"payload": {**e.payload, "messageId": "m4"}}) for e in late]  # reuses StartTransaction's id
    entries = related(candidates(events + late), transaction_id=7)
    by_id = {e.candidate.event.eventId: e for e in entries}
    assert all(e.eventId in by_id for e in remote)
    assert {e.link for e in entries} >= {"transactionId", "correlationId", "messageId", "causationId", "during"}
    kinds = [(e.candidate.stream, e.summary.split(" energyWh")[0]) for e in entries]
    assert ("source", "CALL in StartTransaction") in kinds and ("domain", "transaction.started connectorId=1") in kinds
    assert [e.summary for e in entries if e.link == "during"] == ["ocpp.connection.closed code=1006",
                                                                  "ocpp.connection.opened"]
    assert any(e.candidate.event.type == "station.disconnected" and e.link == "causationId" for e in entries)
    assert not any(e.candidate.event.payload.get("transactionId") == 8 for e in entries)
    assert not any((e.candidate.event.payload.get("payload") or {}).get("connectorId") == 2 for e in entries)
    assert not any(e.candidate.event.eventId in {x.eventId for x in late} for e in entries)
    order = [(e.candidate.event.recordedAt, e.candidate.stream) for e in entries]
    assert order == sorted(order, key=lambda x: (x[0], x[1] != "source"))


def test_command_timeline_is_the_command_and_what_it_caused() -> None:
    t = Trace("CP1")
    events = [*t.opened(), *t.boot(), *t.status(1, "Available"), *t.status(2, "Available")]
    remote = t.command("RemoteStartTransaction", {"connectorId": 1, "idTag": "alice"}, "alice", {"status": "Accepted"})
    events += remote + t.start(1, "alice", 1000, 7) + t.energy(1, 7, 1500, 7400)
    other = t.command("UnlockConnector", {"connectorId": 2}, "alice", {"status": "Unlocked"})
    events += other + t.status(2, "Faulted", "ConnectorLockFailure") + t.stop(7, 2000)
    entries = related(candidates(events), correlation_id=remote[0].correlationId)
    summaries = [e.summary for e in entries]
    assert summaries[:3] == ["command.requested RemoteStartTransaction", "CALL out RemoteStartTransaction",
                             "CALLRESULT in RemoteStartTransaction"]
    assert "command.accepted RemoteStartTransaction" in summaries
    # the session it started carries its correlationId (docs/contracts.md), with the frames behind it
    assert any(s.startswith("transaction.started") for s in summaries)
    assert "CALL in StartTransaction" in summaries and "CALL in MeterValues" in summaries
    assert not any(e.candidate.event.eventId in {x.eventId for x in other} for e in entries)
    assert not any("UnlockConnector" in s or "Faulted" in s for s in summaries)
