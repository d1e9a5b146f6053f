"""The bounded memos the Mobile codec builds its shared texts with (adapters/api/ws/memo.py):
each value built once per key or per object, the oldest dropped past the bound, and an object
memoised by identity — an equal but different object gets its own value."""

from __future__ import annotations

from chargelog.adapters.api.ws.memo import FifoMemo, IdentityMemo


def test_fifo_memo_builds_once_per_key_and_drops_the_oldest_first() -> None:
    built: list[str] = []
    memo: FifoMemo[str, str] = FifoMemo(size=2)

    def get(key: str) -> str:
        return memo.get_or_build(key, lambda: built.append(key) or key.upper())

    assert [get("a"), get("b"), get("a")] == ["A", "B", "A"]
    assert get("c") == "C"  # "a" was stored first: dropped although it was just read
    assert list(memo) == ["b", "c"]
    assert get("a") == "A"
    assert built == ["a", "b", "c", "a"]


def test_identity_memo_keys_by_the_object_itself_and_its_variant() -> None:
    built: list[tuple[int, bool | None]] = []
    memo: IdentityMemo[dict[str, int], str] = IdentityMemo(
        lambda obj, variant: built.append((obj["n"], variant)) or f"{obj['n']}:{variant}", size=3)
    first, equal = {"n": 1}, {"n": 1}  # equal, unhashable, not the same object
    assert memo.get(first) == memo.get(first) == "1:None"
    assert memo.get(equal) == "1:None"
    assert memo.get(first, True) == "1:True"
    assert built == [(1, None), (1, None), (1, True)]
    memo.get({"n": 2})  # a fourth entry: the oldest (first, no variant) is dropped
    assert len(memo) == 3
    assert memo.get(first) == "1:None" and built[-1] == (1, None)


def test_identity_memo_get_all_and_retain() -> None:
    views = [{"n": n} for n in range(4)]
    memo: IdentityMemo[dict[str, int], int] = IdentityMemo(lambda obj, _: obj["n"] * 10)
    assert memo.get_all(views) == [0, 10, 20, 30]
    memo.get(views[0], "variant")
    memo.retain(views[2:])
    assert len(memo) == 2
    assert memo.get_all(views[2:]) == [20, 30] and len(memo) == 2
