"""The chain verifier's batch loop (domain/chain_verify.py ``check_batch``) finds exactly what
its record-by-record ``check`` finds: the same links verified, the same breaks at the same
places, the same heads — on intact chains, an edited event, a deleted one, a replayed one,
an unchained one, and against a signed checkpoint's heads. Pure: sealed bytes made here."""

from __future__ import annotations

from chargelog.domain.chain import GENESIS, seal
from chargelog.domain.chain_verify import ChainVerifier
from chargelog.domain.envelope import Event


def sealed_log(charge_points: int = 3, per_charge_point: int = 6) -> list[tuple[str, bytes]]:
    """(chargePointId, stored bytes) in log order, charge points interleaved."""
    heads = {f"CP{i}": (0, GENESIS) for i in range(charge_points)}
    records = []
    for n in range(per_charge_point):
        for charge_point_id, (seq, previous) in heads.items():
            canonical = Event(type="ocpp.frame", chargePointId=charge_point_id,
                              payload={"n": n, "raw": '[2,"m","Heartbeat",{}]'}).encode()
            stored, digest = seal(canonical, "w1", seq + 1, previous)
            heads[charge_point_id] = (seq + 1, digest)
            records.append((charge_point_id, stored))
    return records


def both(records: list[tuple[str, bytes]], **options: object) -> tuple[ChainVerifier, ChainVerifier]:
    one, batched = ChainVerifier(**options), ChainVerifier(**options)  # type: ignore[arg-type]
    for offset, (charge_point_id, stored) in enumerate(records):
        one.check(0, offset, charge_point_id, stored)
    for start in range(0, len(records), 5):  # batches of 5
        part = records[start:start + 5]
        batched.check_batch(0, list(range(start, start + len(part))), [c for c, _ in part], [s for _, s in part])
    one.finish()
    batched.finish()
    return one, batched


def same(one: ChainVerifier, batched: ChainVerifier) -> None:
    assert batched.verified == one.verified
    assert batched.breaks == one.breaks
    assert {k: (h.seq, h.hash, h.offset) for k, h in batched.heads.items()} == \
        {k: (h.seq, h.hash, h.offset) for k, h in one.heads.items()}


def test_intact_chains_verify_in_batches() -> None:
    one, batched = both(sealed_log())
    same(one, batched)
    assert batched.verified == 18 and not batched.breaks and len(batched.heads) == 3


def test_batches_report_what_single_checks_report() -> None:
    records = sealed_log()
    edited = list(records)
    edited[7] = (edited[7][0], edited[7][1].replace(b'"n":2', b'"n":9'))
    deleted = records[:4] + records[5:]
    replayed = records[:10] + [records[4]] + records[10:]
    unchained = list(records)
    unchained[3] = (records[3][0], records[3][1][:records[3][1].rfind(b',"chain":')] + b',"chain":null}')
    for case, reason in ((edited, "edited"), (deleted, "missing"), (replayed, "duplicate"), (unchained, "unchained")):
        one, batched = both(case)
        same(one, batched)
        assert [b.reason for b in batched.breaks][:1] == [reason]


def test_batches_check_a_signed_checkpoint_as_single_checks_do() -> None:
    records = sealed_log()
    truth, _ = both(records)
    expected = {key: (head.seq, head.hash) for key, head in truth.heads.items()}
    forged = dict(expected)
    forged[("CP1", "w1")] = (expected[("CP1", "w1")][0], bytes(32))
    for heads, breaks in ((expected, 0), (forged, 1)):
        one, batched = both(records, expected=heads)
        same(one, batched)
        assert len(batched.breaks) == breaks
    one, batched = both(records[:-3], expected=expected)  # the tail cut off
    same(one, batched)
    assert {b.reason for b in batched.breaks} == {"checkpoint"}
