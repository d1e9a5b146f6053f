"""Capped exponential backoff between retries (pure): the one rule every retry loop of the
log engines, the outbox and the projection runners uses."""

from __future__ import annotations


def backoff_s(failures: int, first_s: float, max_s: float) -> float:
    """The pause before the next attempt after ``failures`` (≥ 1) consecutive failures, in
    seconds: ``first_s`` after the first, doubled per further failure, at most ``max_s``."""
    return min(max_s, first_s * 2 ** (failures - 1))
