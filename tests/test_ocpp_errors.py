"""Every CALLERROR case on the raw wire, with OCPP-J 1.6's codes and spelling (§4.2.3,
errata 5.1/5.2): the answer, the ``ocpp.frame`` / ``ocpp.frame.invalid`` events, and the
connection staying up afterwards. Both engines."""

from __future__ import annotations

import pytest
import websockets

from test_ocpp_support import exchange, frames, running_gateway, source_events, url

CASES = [
    # (raw frame, expected errorCode)
    ('[2,"e1","FlyToTheMoon",{}]', "NotImplemented"),            # not a 1.6 action
    ('[2,"e2","RemoteStartTransaction",{"idTag":"X"}]', "NotSupported"),  # 1.6, not ours to answer
    ('[2,"e3","Authorize",{}]', "ProtocolError"),                # required field missing
    ('[2,"e4","StartTransaction",{"connectorId":"one","idTag":"T","meterStart":0,'
     '"timestamp":"2026-01-01T00:00:00Z"}]', "TypeConstraintViolation"),
    ('[2,"e5","MeterValues",{"connectorId":1,"meterValue":[]}]', "OccurenceConstraintViolation"),
    ('[2,"e6","Heartbeat",{"unexpected":true}]', "FormationViolation"),
    ('[2,"e7","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Dancing"}]',
     "PropertyConstraintViolation"),
    ('[2,"e8","Heartbeat"]', "ProtocolError"),                   # payload element missing
    ('[2,"e9","Heartbeat",{]', "FormationViolation"),            # not JSON; UniqueId recovered
    ('[2,"e10","Authorize",{"idTag":"ABCDEFGHIJKLMNOPQRSTUVWXYZ"}]', "TypeConstraintViolation"),  # > 20 chars
    ('[2,"e11","StartTransaction",{"connectorId":0,"idTag":"T","meterStart":0,'
     '"timestamp":"2026-01-01T00:00:00Z"}]', "PropertyConstraintViolation"),  # §6.45 connectorId > 0
    ('[2,"e12","StopTransaction",{"transactionId":1,"meterStop":0,"timestamp":"2026-02-30T00:00:00Z"}]',
     "PropertyConstraintViolation"),                            # no 30 February
    ('[2,"e13","StopTransaction",{"transactionId":1,"meterStop":NaN,"timestamp":"2026-01-01T00:00:00Z"}]',
     "FormationViolation"),                                     # NaN is not JSON
    ('[2,"e14","StopTransaction",{"transactionId":1,"meterStop":1e400,"timestamp":"2026-01-01T00:00:00Z"}]',
     "FormationViolation"),                                     # beyond a 64-bit float
]


@pytest.mark.parametrize("raw,code", CASES, ids=[c for _, c in CASES])
async def test_callerror_codes_on_the_wire(log, settings, raw, code):
    async with running_gateway(log, settings) as gateway:
        async with websockets.connect(url(gateway, "CP-ERR"), subprotocols=["ocpp1.6"]) as ws:
            answer = await exchange(ws, raw)
            message_id = raw.split('"')[1]
            assert answer[:3] == [4, message_id, code]
            assert isinstance(answer[3], str) and isinstance(answer[4], dict)
            # the connection stays up and keeps working
            ok = await exchange(ws, [2, "after", "Heartbeat", {}])
            assert ok[0] == 3 and ok[1] == "after" and "currentTime" in ok[2]
    events = await source_events(log, "CP-ERR")
    sent_errors = [f.payload for f in frames(events) if f.payload["messageTypeId"] == 4]
    assert [(e["messageId"], e["errorCode"], e["direction"]) for e in sent_errors] == [(message_id, code, "out")]
    recorded_in = [e for e in events if e.payload.get("direction") == "in" and (
        e.type == "ocpp.frame.invalid" or e.payload.get("messageTypeId") == 2)]
    assert recorded_in[0].payload["raw"] == raw


async def test_unparsable_frames_without_id_are_recorded_not_answered(log, settings):
    async with running_gateway(log, settings) as gateway:
        async with websockets.connect(url(gateway, "CP-JUNK"), subprotocols=["ocpp1.6"]) as ws:
            for junk in ("hello", '{"not":"an array"}', "[]", '[3,"late",{}]'):
                await ws.send(junk)
            ok = await exchange(ws, [2, "hb", "Heartbeat", {}])  # only this one is answered
            assert ok[:2] == [3, "hb"]
    events = await source_events(log, "CP-JUNK")
    invalid = [e.payload for e in events if e.type == "ocpp.frame.invalid"]
    assert [i["raw"] for i in invalid] == ["hello", '{"not":"an array"}', "[]"]
    assert all(i["reason"] for i in invalid)
    # a CALLRESULT nobody asked for is a valid frame: recorded, with an anomaly, unanswered
    late = [f for f in frames(events) if f.payload["messageId"] == "late"]
    assert late[0].payload["direction"] == "in" and late[0].payload["messageTypeId"] == 3
    assert any(e.type == "ocpp.anomaly" and e.payload["kind"] == "unexpected-answer" for e in events)
