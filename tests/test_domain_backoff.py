"""The capped exponential backoff every retry loop uses (domain/backoff.py)."""

from chargelog.domain.backoff import backoff_s


def test_doubles_from_the_first_pause_up_to_the_cap() -> None:
    assert [backoff_s(n, 0.2, 1.0) for n in range(1, 6)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    assert backoff_s(60, 0.05, 0.5) == 0.5  # any number of failures stays at the cap
