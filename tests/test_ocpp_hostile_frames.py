"""Hostile and sloppy frames over the wire, through ``chargelog serve`` on both engines: each
is answered with its OCPP-J 1.6 CALLERROR (§4.2.3), is on the log (``chargelog events
--stream source``, raw text kept, bytes that are not UTF-8 also as base64), the connection
stays open and the next valid frame on it is answered normally."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from conftest import require_kafka
from processes import Server, chargelog_cmd, serve_env

TIMEOUT_S = 30
VALID_STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}

# (case id, frame as sent (bytes: a text frame that is not UTF-8), errorCode, event type recorded)
CASES: list[tuple[str, str | bytes, str, str]] = [
    ("errorCode-list", '[2,"m1","StatusNotification",{"connectorId":1,"errorCode":["x"],"status":"Available"}]',
     "TypeConstraintViolation", "ocpp.frame"),
    ("errorCode-1e30", '[2,"m2","StatusNotification",{"connectorId":1,"errorCode":1' + "0" * 30
     + ',"status":"Available"}]', "TypeConstraintViolation", "ocpp.frame"),
    ("meter-value-number", '[2,"m3","MeterValues",{"connectorId":1,"transactionId":1,"meterValue":'
     '[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":43000}]}]}]',
     "TypeConstraintViolation", "ocpp.frame"),
    ("timestamp-9999-99-99", '[2,"m4","StatusNotification",{"connectorId":1,"errorCode":"NoError",'
     '"status":"Available","timestamp":"9999-99-99"}]', "PropertyConstraintViolation", "ocpp.frame"),
    ("connectorId-beyond-int32", '[2,"m5","StatusNotification",{"connectorId":2147483648,'
     '"errorCode":"NoError","status":"Available"}]', "TypeConstraintViolation", "ocpp.frame"),
    ("lone-surrogate", '[2,"t1","DataTransfer",{"vendorId":"\\ud800"}]', "FormationViolation",
     "ocpp.frame.invalid"),
    ("nesting-30000", '[2,"t2","DataTransfer",{"vendorId":"v","data":' + "[" * 30000 + "]" * 30000 + "}]",
     "FormationViolation", "ocpp.frame.invalid"),
    ("invalid-utf8", b'[2,"t3","DataTransfer",{"vendorId":"\xff\xfe\xc3"}]', "FormationViolation",
     "ocpp.frame.invalid"),
    ("oversize", '[2,"t4","DataTransfer",{"vendorId":"v","data":"' + "x" * 70000 + '"}]', "GenericError",
     "ocpp.frame.invalid"),
]


@pytest.fixture(scope="module", params=["embedded", "kafka"])
def serve(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``chargelog serve`` per engine, shared by the cases (each uses its own station)."""
    tmp = tmp_path_factory.mktemp(f"serve-{request.param}")
    server = Server(serve_env(request.param, tmp / "data", require_kafka() if request.param == "kafka" else None),
                    log_path=tmp / "serve.log").start()
    try:
        yield server
    finally:
        assert server.stop() == 0, (tmp / "serve.log").read_text()[-4000:]


def source_events(server: Server, charge_point_id: str) -> list[dict[str, Any]]:
    """The charge point's events on ``source``, as ``chargelog events`` prints them."""
    done = subprocess.run(chargelog_cmd("events", "--stream", "source", "--charge-point", charge_point_id),
                          env={**os.environ, **server.env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


async def exchange(ws: Any, frame: str | bytes) -> list[Any]:
    """Send one frame (bytes go as a TEXT frame, undecoded) and return the parsed answer."""
    await ws.send(frame, text=True)
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))


@pytest.mark.parametrize("case,frame,code,recorded_as", CASES, ids=[c[0] for c in CASES])
async def test_bad_frame_is_answered_recorded_and_the_connection_stays(
        serve: Server, case: str, frame: str | bytes, code: str, recorded_as: str) -> None:
    charge_point_id = f"HOSTILE-{case}"
    message_id = (frame if isinstance(frame, str) else frame.decode("latin-1")).split('"')[1]
    async with websockets.connect(f"{serve.ocpp_url}/{charge_point_id}", subprotocols=["ocpp1.6"]) as ws:
        answer = await exchange(ws, frame)
        assert answer[:3] == [4, message_id, code]
        assert isinstance(answer[3], str) and isinstance(answer[4], dict)
        # the connection is still open and the next valid frame is answered as usual
        assert (await exchange(ws, json.dumps([2, "next", "StatusNotification", VALID_STATUS]))) == [3, "next", {}]

    events = source_events(serve, charge_point_id)
    received = [e for e in events if e["type"] == recorded_as and e["payload"]["direction"] == "in"]
    assert received, f"{case}: the frame is not on the log"
    first = received[0]["payload"]
    sent = frame if isinstance(frame, bytes) else frame.encode()
    if case == "oversize":
        assert first["rawTruncated"] is True and first["rawBytes"] == len(sent)
        assert sent.decode().startswith(first["raw"])
    elif isinstance(frame, bytes):
        assert base64.b64decode(first["rawBase64"]) == frame
        assert first["raw"] == frame.decode(errors="backslashreplace")
    else:
        assert first["raw"] == frame
    if recorded_as == "ocpp.frame.invalid":
        assert first["errorCode"] == code and first["messageId"] == message_id and first["reason"]
    answers = [e["payload"] for e in events if e["type"] == "ocpp.frame" and e["payload"]["direction"] == "out"]
    assert [(a["messageId"], a["messageTypeId"]) for a in answers] == [(message_id, 4), ("next", 3)]
    assert answers[0]["errorCode"] == code
