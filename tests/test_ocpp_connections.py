"""Connection events over real sockets: subprotocol negotiation, paths, replace on
reconnect, offline detection (tiny heartbeat interval, waiting on the log event), graceful
stop with close code 1001. Both engines."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from chargelog.domain.log import SOURCE

from test_ocpp_support import TIMEOUT_S, exchange, running_gateway, source_events, url, wait_event


async def test_handshake_without_ocpp16_is_refused(log, settings):
    async with running_gateway(log, settings) as gateway:
        for offered in (None, ["ocpp2.0.1"]):
            with pytest.raises(InvalidStatus) as refused:
                async with websockets.connect(url(gateway, "CP-NOSUB"), subprotocols=offered):
                    pass
            assert refused.value.response.status_code == 400
        with pytest.raises(InvalidStatus) as bad_path:
            async with websockets.connect(f"ws://127.0.0.1:{gateway.port}/ocpp/a/b", subprotocols=["ocpp1.6"]):
                pass
        assert bad_path.value.response.status_code == 404
        # both paths work, subprotocol negotiated
        async with websockets.connect(f"ws://127.0.0.1:{gateway.port}/CP-SHORT", subprotocols=["ocpp1.6"]) as ws:
            assert ws.subprotocol == "ocpp1.6"
            assert (await exchange(ws, [2, "1", "Heartbeat", {}]))[0] == 3
    assert [e.type for e in await source_events(log, "CP-NOSUB")] == []


async def test_reconnect_replaces_the_older_connection(log, settings):
    async with running_gateway(log, settings) as gateway:
        old = await websockets.connect(url(gateway, "CP-REP"), subprotocols=["ocpp1.6"])
        await exchange(old, [2, "o1", "Heartbeat", {}])
        async with websockets.connect(url(gateway, "CP-REP"), subprotocols=["ocpp1.6"]) as new:
            await old.wait_closed()
            assert old.close_code == 1000
            assert (await exchange(new, [2, "n1", "Heartbeat", {}]))[0] == 3
            assert gateway.connected == {"CP-REP"}
    types = [e.type for e in await source_events(log, "CP-REP")]
    assert types == ["ocpp.connection.opened", "ocpp.frame", "ocpp.frame", "ocpp.connection.replaced",
                     "ocpp.connection.opened", "ocpp.frame", "ocpp.frame", "ocpp.connection.closed"]
    events = await source_events(log, "CP-REP")
    replaced = events[3].payload
    assert replaced["previousConnectionId"] == events[0].payload["connectionId"]
    assert replaced["previousRemoteAddress"] == events[0].payload["remoteAddress"]
    assert events[-1].payload["connectionId"] == events[4].payload["connectionId"]


async def test_silent_charge_point_goes_offline_and_is_closed(log, settings):
    after = await log.latest(SOURCE)
    async with running_gateway(log, settings, heartbeat_interval_s=1, offline_after_heartbeats=0.3) as gateway:
        async with websockets.connect(url(gateway, "CP-QUIET"), subprotocols=["ocpp1.6"]) as ws:
            await exchange(ws, [2, "b", "Heartbeat", {}])
            offline = await wait_event(log, lambda e: e.type == "ocpp.connection.offline"
                                       and e.chargePointId == "CP-QUIET", after=after)
            await asyncio.wait_for(ws.wait_closed(), TIMEOUT_S)
            assert ws.close_code == 1001
        assert offline.payload["timeoutSeconds"] == pytest.approx(0.3)
        assert "CP-QUIET" not in gateway.connected
    types = [e.type for e in await source_events(log, "CP-QUIET")]
    assert types.count("ocpp.connection.offline") == 1 and "ocpp.connection.closed" not in types


async def test_graceful_stop_closes_with_1001(log, settings):
    async with running_gateway(log, settings) as gateway:
        ws = await websockets.connect(url(gateway, "CP-STOP"), subprotocols=["ocpp1.6"])
        await exchange(ws, [2, "x", "Heartbeat", {}])
    await asyncio.wait_for(ws.wait_closed(), TIMEOUT_S)
    assert ws.close_code == 1001
    events = await source_events(log)
    closed = [e for e in events if e.type == "ocpp.connection.closed"]
    assert closed[0].payload["code"] == 1001
    assert [e.type for e in events if e.type.startswith("ocpp.gateway")] == ["ocpp.gateway.started",
                                                                             "ocpp.gateway.stopped"]


async def test_health_and_metrics_on_the_ocpp_port(log, settings):
    import httpx

    async with running_gateway(log, settings) as gateway:
        async with websockets.connect(url(gateway, "CP-MET"), subprotocols=["ocpp1.6"]) as ws:
            await exchange(ws, [2, "m", "Heartbeat", {}])
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as http:
                health = await http.get("/health")
                metrics = await http.get("/metrics")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "gatewayId": gateway.gateway_id, "connected": 1}
    text = metrics.text
    assert 'chargelog_ocpp_frames_total{direction="in",message_type="call"} 1.0' in text
    assert 'chargelog_ocpp_frames_total{direction="out",message_type="callresult"} 1.0' in text
    assert "chargelog_ocpp_connections 1.0" in text
    assert "chargelog_ocpp_ack_seconds_count 1.0" in text


async def test_oversized_frame_is_answered_and_a_huge_one_closes_with_1009(log, settings):
    async with running_gateway(log, settings, max_frame_bytes=1024) as gateway:
        async with websockets.connect(url(gateway, "CP-BIG"), subprotocols=["ocpp1.6"]) as ws:
            big = '[2,"big","DataTransfer",{"vendorId":"v","data":"' + "x" * 2000 + '"}]'
            answer = await exchange(ws, big)  # over max_frame_bytes: recorded, answered
            assert answer[:3] == [4, "big", "GenericError"]
            assert (await exchange(ws, [2, "hb", "Heartbeat", {}]))[:2] == [3, "hb"]
            # over OVERSIZE_FACTOR x max_frame_bytes the library stops reading: 1009
            await ws.send('[2,"huge","DataTransfer",{"vendorId":"v","data":"' + "x" * 20000 + '"}]')
            await asyncio.wait_for(ws.wait_closed(), TIMEOUT_S)
    events = await source_events(log, "CP-BIG")
    invalid = [e.payload for e in events if e.type == "ocpp.frame.invalid"]
    assert invalid[0]["raw"] == big[:1024] and invalid[0]["rawBytes"] == len(big)
    assert invalid[0]["rawTruncated"] is True and invalid[0]["messageId"] == "big"
    closed = [e.payload for e in events if e.type == "ocpp.connection.closed"]
    assert closed[0]["code"] == 1009
