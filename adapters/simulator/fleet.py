"""A fleet of simulated OCPP 1.6-J charge points: the demo's input and the benchmarks' load
(``chargelog simulate``)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from .station import SimulatedStation, SimulationProfile, StationConnectError

#: At most this many stations open their first connection at the same time.
CONNECT_CONCURRENCY = 64


def station_ids(stations: int, prefix: str = "CP") -> list[str]:
    """The chargePointIds of a fleet of ``stations``: ``{prefix}{n:03d}``, n = 1..stations."""
    return [f"{prefix}{n:03d}" for n in range(1, stations + 1)]


class Fleet:
    """``stations`` charge points ``{prefix}{n:03d}`` (n = 1..stations) connecting to
    ``{url}/{chargePointId}``, each with ``connectors`` connectors, MeterValues every
    ``meter_interval_s`` s during transactions, HTTP Basic ``password`` if given (the same
    for all), and ``id_tag`` for the transactions they start themselves
    (``auto_transactions``). ``seed`` makes the vehicles and timings reproducible."""

    def __init__(
        self, url: str, stations: int, connectors: int = 2, prefix: str = "CP",
        auto_transactions: bool = False, meter_interval_s: float = 10.0, password: str | None = None,
        id_tag: str = "SIMTAG", *, seed: int | None = None, profile: SimulationProfile | None = None,
    ) -> None:
        if stations < 0 or connectors < 1 or meter_interval_s <= 0:
            raise ValueError("need stations >= 0, connectors >= 1 and meter_interval_s > 0")
        self.url = url
        seeds = random.Random(seed)
        self.stations = [
            SimulatedStation(url, charge_point_id, connectors, meter_interval_s=meter_interval_s,
                             password=password, id_tag=id_tag, auto_transactions=auto_transactions,
                             profile=profile, rng=random.Random(seeds.random()))
            for charge_point_id in station_ids(stations, prefix)
        ]

    def station(self, charge_point_id: str) -> SimulatedStation:
        """The station with that chargePointId; KeyError if none."""
        for station in self.stations:
            if station.charge_point_id == charge_point_id:
                return station
        raise KeyError(charge_point_id)

    async def start(self, progress: Callable[[int, int], None] | None = None, timeout_s: float | None = None) -> None:
        """Connect and boot every station; returns when all are booted. ``progress(booted,
        total)`` is called after each boot. Raises :class:`StationConnectError` (one line,
        naming the URL) if a station cannot connect at all — the fleet is stopped then —
        and TimeoutError after ``timeout_s`` s (e.g. boots left Pending)."""
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        booted = 0

        async def boot(station: SimulatedStation) -> None:
            nonlocal booted
            async with gate:
                await station.start()
            booted += 1
            if progress is not None:
                progress(booted, len(self.stations))

        try:
            async with asyncio.timeout(timeout_s), asyncio.TaskGroup() as group:
                for station in self.stations:
                    group.create_task(boot(station))
        except BaseException as exc:
            await self.stop()
            if isinstance(exc, BaseExceptionGroup):
                first = exc.exceptions[0]
                if isinstance(first, StationConnectError | TimeoutError):
                    raise first from None
            raise

    async def stop(self) -> None:
        """Close every station's connection (code 1000) and end its tasks."""
        await asyncio.gather(*(station.stop() for station in self.stations))

    @property
    def connected(self) -> int:
        """How many stations have an open, booted connection."""
        return sum(station.connected for station in self.stations)
