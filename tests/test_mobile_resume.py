"""Delivery guarantees of the Mobile API (section 7): a
client dropped mid-stream under load resumes from its last position with nothing missing
and per-station order kept; a subscriber slower than the live ring falls back to the log
without a gap; station/event filters; unsubscribe; getEventsSince by position and by
timestamp with limit/hasMore. Domain events are appended to the real log. Both engines."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import websockets

from chargelog.domain.envelope import Event, Source
from chargelog.domain.log import DOMAIN

from test_api_support import TIMEOUT_S, MobileClient, api_stack, mobile

STATIONS = [f"CP-R{i}" for i in range(5)]


def status_event(station: str, seq: int, status: str = "Available", event_type: str = "connector.status.changed") -> Event:
    payload = {"chargePointId": station, "connectorId": 1, "status": status, "info": str(seq),
               "timestamp": datetime.now(UTC).isoformat()}
    if event_type == "station.connected":
        payload = {"chargePointId": station, "at": datetime.now(UTC).isoformat()}
    return Event(type=event_type, chargePointId=station, source=Source.SYSTEM, payload=payload)


async def produce(log, count: int, batch: int = 25, start: int = 0) -> list[str]:
    """Append ``count`` public events over STATIONS in batches; their eventIds in order."""
    ids = []
    for first in range(start, start + count, batch):
        events = [status_event(STATIONS[i % len(STATIONS)], i) for i in range(first, min(first + batch, start + count))]
        await log.append(DOMAIN, events)
        ids.extend(e.eventId for e in events)
        await asyncio.sleep(0)  # let readers interleave with the producer (load, not synchronisation)
    return ids


def check_order(pushes: list[dict]) -> None:
    """Per station, the sequence numbers never go backwards beyond a replayed duplicate."""
    last: dict[str, int] = {}
    seen: set[str] = set()
    for push in pushes:
        if push["eventId"] in seen:
            continue
        seen.add(push["eventId"])
        station = push["data"]["stationId"]
        seq = int(push["_seq"])
        assert seq > last.get(station, -1), (station, seq, last.get(station))
        last[station] = seq


async def collect(client: MobileClient, want: set[str], into: list[dict]) -> None:
    async def run() -> None:
        while not want <= {p["eventId"] for p in into}:
            push = await client.pushes.get()
            if push.get("event") == "connector.status.changed":
                into.append(push)

    await asyncio.wait_for(run(), 60)


async def test_resume_after_drop_under_load(log, settings, engine):
    async with api_stack(log, settings, gateway=False, api_subscriber_queue=64) as stack:
        key = stack.key("u1")
        received: list[dict] = []
        async with websockets.connect(stack.ws_url, max_queue=4) as ws:
            client = MobileClient(ws)
            await client.result("auth", {"apiKey": key})
            sub = await client.result("subscribe", {"events": ["all"]})
            producer = asyncio.create_task(produce(log, 1500))
            while len(received) < 300:
                push = await asyncio.wait_for(client.pushes.get(), TIMEOUT_S)
                received.append(push)
            last_position = received[-1]["position"]
            ws.transport.abort()  # dropped, no close handshake
            client.reader.cancel()
        ids = await producer
        async with mobile(stack, key) as client:
            resumed = await client.result("subscribe", {"events": ["all"], "since": last_position})
            assert resumed["position"] == last_position
            await collect(client, set(ids), received)
        got = {p["eventId"] for p in received}
        assert set(ids) <= got, f"{len(set(ids) - got)} events missing"
        for push in received:
            push["_seq"] = ids.index(push["eventId"])
        check_order(received)
        assert sub["position"]


async def test_slow_subscriber_falls_back_to_the_log(log, settings):
    async with api_stack(log, settings, gateway=False, api_subscriber_queue=16) as stack:
        key = stack.key("u1")
        async with websockets.connect(stack.ws_url, max_queue=2) as ws:
            client = MobileClient(ws)
            await client.result("auth", {"apiKey": key})
            await client.result("subscribe", {"events": ["connector.status.changed"]})
            ids = await produce(log, 800, batch=100)
            received: list[dict] = []
            await collect(client, set(ids), received)
            for push in received:
                push["_seq"] = ids.index(push["eventId"])
            check_order(received)
            await client.close()


async def test_station_filter_snapshot_and_unsubscribe(log, settings):
    async with api_stack(log, settings, gateway=False) as stack:
        await log.append(DOMAIN, [status_event("CP-R0", 0, event_type="station.connected"),
                                  status_event("CP-R1", 1, event_type="station.connected"),
                                  status_event("CP-R0", 2), status_event("CP-R1", 3)])
        await asyncio.wait_for(stack.worker.read_models.wait_for(await log.latest(DOMAIN)), TIMEOUT_S)
        async with mobile(stack, stack.key("u1")) as client:
            one = await client.result("subscribe", {"stationId": "CP-R0", "events": ["connector.status.changed"]})
            assert [s["id"] for s in one["snapshot"]["stations"]] == ["CP-R0"]
            everything = await client.result("subscribe", {"events": ["all"]})
            assert {s["id"] for s in everything["snapshot"]["stations"]} == {"CP-R0", "CP-R1"}
            assert one["subscriptionId"] != everything["subscriptionId"]
            new = [status_event("CP-R1", 10, event_type="station.connected"),
                   status_event("CP-R1", 11, "Charging"), status_event("CP-R0", 12, "Faulted")]
            await log.append(DOMAIN, new)
            # (events from before the subscription may be replayed: at-least-once; skip them)
            fresh = {e.eventId for e in new}
            pushes = [await client.push(lambda m: m["eventId"] in fresh) for _ in range(3)]  # deduplicated
            assert sorted((p["event"], p["data"]["stationId"], p["data"].get("status")) for p in pushes) == [
                ("connector.status.changed", "CP-R0", "Faulted"), ("connector.status.changed", "CP-R1", "Charging"),
                ("station.connected", "CP-R1", None)]
            cp_r1 = [p["event"] for p in pushes if p["data"]["stationId"] == "CP-R1"]
            assert cp_r1 == ["station.connected", "connector.status.changed"]  # per-station order
            gone = await client.result("unsubscribe", {"subscriptionId": everything["subscriptionId"]})
            assert gone == {"subscriptionId": everything["subscriptionId"], "status": "ok"}
            assert (await client.request("unsubscribe", {"subscriptionId": everything["subscriptionId"]}))["error"]["code"] == 404
            last = [status_event("CP-R1", 20, "Faulted"), status_event("CP-R0", 21, "Available")]
            await log.append(DOMAIN, last)
            fresh = {e.eventId for e in last}
            push = await client.push(lambda m: m["eventId"] in fresh)
            assert (push["data"]["stationId"], push["data"]["status"]) == ("CP-R0", "Available")


async def test_events_since_position_and_timestamp(log, settings):
    async with api_stack(log, settings, gateway=False) as stack:
        key = stack.key("u1")
        async with mobile(stack, key) as client:
            before = datetime.now(UTC)
            start = (await client.result("subscribe", {"events": ["all"]}))["position"]
            ids = await produce(log, 250, batch=50)
            page, got = {"hasMore": True, "position": start}, []
            while page["hasMore"]:
                page = await client.result("getEventsSince", {"since": page["position"], "limit": 100})
                got.extend(page["events"])
            by_station = lambda events, st: [e["eventId"] for e in events if e["stationId"] == st]  # noqa: E731
            assert sorted(e["eventId"] for e in got) == sorted(ids)  # all, once (partitions interleave on Kafka)
            for station in STATIONS:  # per-station order is log order
                assert by_station(got, station) == [i for n, i in enumerate(ids) if n % 5 == STATIONS.index(station)]
            first = got[0]
            assert first["eventType"] == "connector.status.changed"
            assert first["data"]["stationId"] == first["stationId"] and first["timestamp"].endswith("Z")
            # the position of an event resumes right after it
            rest = await client.result("getEventsSince", {"since": first["position"], "limit": 1000})
            assert sorted(e["eventId"] for e in rest["events"]) == sorted(set(ids) - {first["eventId"]})
            limited = await client.result("getEventsSince", {"since": first["position"], "limit": 1})
            # a page never ends inside a millisecond: the events sharing the first one's ms come too
            assert limited["events"][0]["eventId"] == got[1]["eventId"] and limited["hasMore"] is True
            assert {e["timestamp"] for e in limited["events"]} == {limited["events"][0]["timestamp"]}
            by_time = await client.result("getEventsSince", {"since": before.isoformat().replace("+00:00", "Z"),
                                                             "limit": 1000})
            assert sorted(e["eventId"] for e in by_time["events"]) == sorted(ids) and by_time["hasMore"] is False
            # subscribe from a timestamp replays from the log, then goes live
            since_iso = before.isoformat().replace("+00:00", "Z")
            replay: list[dict] = []
            async with mobile(stack, key) as fresh:
                await fresh.result("subscribe", {"events": ["connector.status.changed"], "since": since_iso})
                await collect(fresh, set(ids), replay)
            one_station = await client.result("getEventsSince", {"since": start, "limit": 1000, "stationId": "CP-R3"})
            assert [e["eventId"] for e in one_station["events"]] == ids[3::5]
            none = await client.result("getEventsSince", {"since": start, "limit": 10, "events": ["meter.update"]})
            assert none["events"] == [] and none["hasMore"] is False
