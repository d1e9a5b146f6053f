"""The moving-window limiter behind the Charging WebSocket API's limits
(adapters/api/ratelimit.py; specs/charging-websocket-api.md, "Rate Limiting")."""

from __future__ import annotations

import time

from chargelog.adapters.api.ratelimit import ChargingLimits, RateLimiter
from chargelog.adapters.config import Settings


def test_burst_over_the_limit_is_refused_per_key() -> None:
    limiter = RateLimiter(3, "t")
    decisions = [limiter.hit("1.2.3.4") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert limiter.hit("5.6.7.8").allowed  # another key has its own window
    refused = decisions[-1]
    assert refused.limit == 3 and refused.reset >= int(time.time())
    headers = refused.headers()
    assert headers["X-RateLimit-Limit"] == "3" and headers["X-RateLimit-Remaining"] == "0"
    assert int(headers["Retry-After"]) >= 1 and "Retry-After" not in decisions[0].headers()
    assert limiter.peek("1.2.3.4").remaining == 0


def test_charging_limits_default_to_the_document() -> None:
    limits = ChargingLimits.from_settings(Settings())
    assert (limits.connections.limit, limits.messages.limit, limits.auth.limit) == (10, 100, 5)
    # separate limiters on one storage do not share counts
    for _ in range(5):
        assert limits.auth.hit("ip").allowed
    assert not limits.auth.hit("ip").allowed
    assert limits.connections.hit("ip").allowed
