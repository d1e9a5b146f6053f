"""A month of realistic charging traffic, built from :class:`~chargelog.domain.trace.Trace`
source events with a fake clock (no waiting): for analytics tests, docs/analytics.md and the
export benchmark. Pure and deterministic (a seeded ``random.Random``).

Each charge point (vendor and model from a small fleet mix) boots on the first day, then
has 1–4 sessions a day on its connectors: Preparing, StartTransaction, Charging, a
MeterValues (energy register Wh, power W, SoC %) every 15 minutes, StopTransaction,
Available; now and then a connector reports a fault (an OCPP 1.6 ChargePointErrorCode, more
often on some vendors) and recovers. :class:`Truth` keeps what an analysis must find.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from .envelope import Event
from .trace import Trace

#: (vendor, model, chance of a fault per day and connector).
FLEET = (("ABB", "Terra AC", 0.02), ("Alfen", "Eve Single Pro", 0.05), ("Wallbox", "Commander 2", 0.10))
#: OCPP 1.6 ChargePointErrorCode values the faults use (OCPP 1.6 §7.6).
FAULTS = ("GroundFailure", "OverCurrentFailure", "ConnectorLockFailure", "PowerMeterFailure")
METER_INTERVAL = timedelta(minutes=15)


@dataclass
class Truth:
    """What the generated month holds: energy (Wh) per (chargePointId, day of the stop),
    session durations (s) per chargePointId, charging seconds per (chargePointId,
    connectorId), faults per (vendor, errorCode), vendor per chargePointId."""

    energy_wh: dict[tuple[str, date], float] = field(default_factory=lambda: defaultdict(float))
    durations_s: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    charging_s: dict[tuple[str, int], float] = field(default_factory=lambda: defaultdict(float))
    faults: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    vendors: dict[str, str] = field(default_factory=dict)
    sessions: int = 0


def month(charge_points: int = 10, days: int = 30, *, connectors: int = 2, seed: int = 7,
          start: datetime = datetime(2026, 1, 1, tzinfo=UTC), truth: Truth | None = None) -> Iterator[list[Event]]:
    """Source events, one day of all charge points at a time (yielded per day, so a large
    month never sits in memory); fills ``truth`` as it goes. Transaction ids are 1, 2, …"""
    rng = random.Random(seed)
    truth = truth if truth is not None else Truth()
    traces = [Trace(f"CP{n:04d}", start) for n in range(1, charge_points + 1)]
    fleet = {t.chargePointId: FLEET[n % len(FLEET)] for n, t in enumerate(traces)}
    registers = {(t.chargePointId, c): rng.randrange(10_000, 900_000) for t in traces for c in range(1, connectors + 1)}
    next_tx = 1
    for day in range(days):
        out: list[Event] = []
        midnight = start + timedelta(days=day)
        for trace in traces:
            cp = trace.chargePointId
            vendor, model, fault_rate = fleet[cp]
            trace.clock = midnight + timedelta(minutes=rng.randrange(0, 30))
            if day == 0:
                truth.vendors[cp] = vendor
                out += trace.opened() + trace.boot(vendor, model)
                for c in range(1, connectors + 1):
                    out += trace.status(c, "Available")
            slots = sorted(rng.sample(range(6, 22), rng.randint(1, 4)))
            for hour in slots:
                connector = rng.randint(1, connectors)
                begin = midnight + timedelta(hours=hour, minutes=rng.randrange(0, 50))
                if begin <= trace.clock:
                    continue
                trace.clock = begin
                tx, next_tx = next_tx, next_tx + 1
                key = (cp, connector)
                meter_start = registers[key]
                power_w = rng.choice((3700.0, 7400.0, 11000.0, 22000.0))
                samples = rng.randint(1, 12)
                out += trace.status(connector, "Preparing")
                out += trace.start(connector, f"TAG{rng.randrange(1, 200):03d}", meter_start, tx)
                started = trace.clock
                out += trace.status(connector, "Charging")
                register = float(meter_start)
                for i in range(samples):
                    trace.clock = started + METER_INTERVAL * (i + 1)
                    register += power_w * METER_INTERVAL.total_seconds() / 3600 * rng.uniform(0.6, 1.0)
                    out += trace.energy(connector, tx, round(register), power_w, soc=min(100, 20 + 6 * i))
                trace.clock = started + METER_INTERVAL * samples + timedelta(minutes=rng.randrange(1, 10))
                registers[key] = round(register)
                out += trace.stop(tx, registers[key], reason="Local")
                stopped = trace.clock
                out += trace.status(connector, "Finishing") + trace.status(connector, "Available")
                duration = (stopped - started).total_seconds()
                truth.energy_wh[(cp, stopped.date())] += registers[key] - meter_start
                truth.durations_s[cp].append(duration)
                truth.charging_s[key] += duration
                truth.sessions += 1
            for c in range(1, connectors + 1):
                if rng.random() < fault_rate:
                    code = rng.choice(FAULTS)
                    trace.clock = max(trace.clock, midnight + timedelta(hours=22, minutes=c))
                    out += trace.status(c, "Faulted", code) + trace.status(c, "Available")
                    truth.faults[(vendor, code)] += 1
        yield out
