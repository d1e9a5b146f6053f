"""Fuzz the OCPP 1.6-J gateway of a real ``chargelog serve`` with generated frames.

Starts ``chargelog serve`` (embedded or Kafka engine) on free loopback ports, connects
``--stations`` charge points and sends ``--cases`` frames — valid OCPP 1.6 frames and
mutations of them (schema-breaking values, wrong types, lone surrogate escapes, deep
nesting, invalid UTF-8, truncations, byte flips, oversize frames, bad MessageTypeIds and
UniqueIds) — plus mutated WebSocket handshakes (paths, subprotocols, raw HTTP garbage). After
every batch it probes both ``/health`` endpoints, checks the process is alive, samples its
RSS, and checks that domain processing advances: a control charge point changes its
connector status and the domain stream's position must move.

Counted (the goal is 0 for the first four):

* ``crashes``: the server process exited;
* ``hangs``: an answer, a handshake response or a health probe did not come within
  ``--timeout`` s while the connection was open;
* ``unanswered``: a CALL whose UniqueId is recoverable (the frame starts ``[2,"<id>"``)
  got no answer with that UniqueId (OCPP-J 1.6 §4.2.3: every such CALL gets a CALLRESULT or
  a CALLERROR);
* ``droppedAnswerable``: the server closed a connection while such a CALL was pending;
* also: ``droppedOther`` (closes after frames that cannot be answered), answers by code,
  answers whose errorCode is not a 1.6 code, health failures, domain stalls, RSS (MB) after
  each batch, and server-log lines with a traceback or at ERROR level.

Usage (from the repository root)::

    python tests/fuzz/ocpp_fuzz.py --cases 100000 --stations 8 --engine embedded
    python tests/fuzz/ocpp_fuzz.py --cases 3000 --engine kafka --seed 7
    python tests/fuzz/ocpp_fuzz.py --cases 10000 --valid-only   # the floor: valid CALLs only

Prints one JSON object (the report). ``run_fuzz`` is the same as a coroutine (the bounded
CI version is ``tests/test_ocpp_fuzz.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_TESTS = Path(__file__).resolve().parents[1]
for _path in (str(_TESTS), str(_TESTS.parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import httpx  # noqa: E402
import psutil  # noqa: E402
import websockets  # noqa: E402
from websockets.exceptions import ConnectionClosed, WebSocketException  # noqa: E402

from processes import Server, chargelog_cmd, serve_env  # noqa: E402

#: The CallError codes of OCPP-J 1.6 §4.2.3 (1.6 spelling).
ERROR_CODES_16 = {"NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
                  "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
                  "TypeConstraintViolation", "GenericError"}
#: A frame starting like this is a CALL whose UniqueId the gateway can recover.
_ANSWERABLE = re.compile(rb'^\[2,"([A-Za-z0-9-]{1,36})"')
CONTROL = "FUZZ-CTRL"
MAX_FRAME_BYTES = 65536  # the server's default max_frame_bytes

STATUSES = ["Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV", "Finishing",
            "Reserved", "Unavailable", "Faulted"]
ERRORS = ["NoError", "ConnectorLockFailure", "GroundFailure", "OtherError", "PowerMeterFailure"]
ACTIONS = ["BootNotification", "Heartbeat", "StatusNotification", "Authorize", "StartTransaction",
           "MeterValues", "StopTransaction", "DataTransfer", "DiagnosticsStatusNotification",
           "FirmwareStatusNotification"]
#: Values a mutation puts into a field (json.dumps writes NaN/Infinity and "\\ud800" escapes).
NASTY: list[Any] = [
    None, True, False, 0, -1, 2**31 - 1, 2**31, -(2**31) - 1, 10**30, 1.5, -0.0, 1e308, float("nan"),
    float("inf"), "", "x" * 21, "x" * 600, "\ud800", "a\udfffb", "9999-99-99", "2026-02-30T00:00:00Z",
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-01-01t00:00:00z", "\u0000", "😀" * 30,
    [], {}, ["x"], {"a": 1}, [[[[[[]]]]]], "Available", "NoError", "1e400",
]
#: Tokens spliced into the JSON text where json.dumps cannot write them.
RAW_TOKENS = [b"1e400", b"-1e400", b"1" + b"0" * 5000, b"NaN", b"Infinity", b'"\\ud800"', b'"\\udc00\\ud800"',
              b'"\xff"', b'"\xed\xa0\x80"', b'"\xc3"', b"[" * 40 + b"]" * 40, b"[" * 30000 + b"]" * 30000,
              b"{" * 1000 + b"}" * 1000, b'"\x01"', b"tru", b'"\\x41"']
BAD_IDS: list[Any] = ["", "x" * 37, 17, None, "\ud800", "ü" * 36, ["a"], "id with \"quote\""]
BAD_TYPE_IDS: list[Any] = [0, 1, 5, -1, "2", 2.5, None, True, [2], 2**64]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Report:
    """What one fuzz run saw (module docstring)."""

    engine: str = "embedded"
    seed: int = 0
    stations: int = 0
    cases: int = 0
    frames: int = 0
    handshakes: int = 0
    expectedAnswers: int = 0
    crashes: int = 0
    hangs: int = 0
    unanswered: int = 0
    droppedAnswerable: int = 0
    droppedOther: int = 0
    closeCodes: dict[str, int] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)
    non16ErrorCodes: int = 0
    healthProbes: int = 0
    healthFailures: int = 0
    domainChecks: int = 0
    domainStalls: int = 0
    domainFinalStatusSeen: bool | None = None
    rssStartMb: float = 0.0
    rssEndMb: float = 0.0
    rssPeakMb: float = 0.0
    rssSamplesMb: list[float] = field(default_factory=list)
    serverLogTracebacks: int = 0
    serverLogErrors: list[str] = field(default_factory=list)
    durationS: float = 0.0
    fuzzS: float = 0.0
    framesPerS: float = 0.0

    @property
    def clean(self) -> bool:
        """0 crashes, 0 hangs, 0 unanswered, 0 dropped for answerable frames."""
        return not (self.crashes or self.hangs or self.unanswered or self.droppedAnswerable)


class FrameFactory:
    """Frames of one charge point: valid OCPP 1.6 CALLs (and a few CALLRESULT/CALLERRORs to
    nothing) and mutations of them. ``next()`` → (bytes, expected UniqueId or None, binary)."""

    def __init__(self, rng: random.Random, station: str, shared_tx: list[int], *, valid_only: bool = False) -> None:
        self.rng = rng
        self.valid_only = valid_only  # the floor: only valid CALLs, no mutation
        self.station = station
        self.counter = 0
        self.tx = shared_tx  # transactionIds seen by any station (cross-station frames too)
        self.meter = 0

    def _id(self) -> str:
        self.counter += 1
        return f"{self.station[-6:]}-{self.counter}"

    def valid_call(self, action: str | None = None) -> list[Any]:
        rng = self.rng
        action = action or rng.choice(ACTIONS)
        self.meter += rng.randint(0, 500)
        tx = rng.choice(self.tx) if self.tx and rng.random() < 0.9 else rng.randint(1, 10**6)
        payload: dict[str, Any] = {
            "BootNotification": lambda: {"chargePointVendor": "Fuzz", "chargePointModel": "F1"},
            "Heartbeat": dict,
            "StatusNotification": lambda: {"connectorId": rng.randint(0, 2), "errorCode": rng.choice(ERRORS),
                                           "status": rng.choice(STATUSES), "timestamp": now_iso()},
            "Authorize": lambda: {"idTag": f"TAG{rng.randint(1, 9)}"},
            "StartTransaction": lambda: {"connectorId": rng.randint(1, 2), "idTag": f"TAG{rng.randint(1, 9)}",
                                         "meterStart": self.meter, "timestamp": now_iso()},
            "MeterValues": lambda: {"connectorId": rng.randint(1, 2), "transactionId": tx, "meterValue": [
                {"timestamp": now_iso(), "sampledValue": [
                    {"value": str(self.meter), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": str(rng.randint(0, 22000)), "measurand": "Power.Active.Import", "unit": "W"}]}]},
            "StopTransaction": lambda: {"transactionId": tx, "meterStop": self.meter, "timestamp": now_iso(),
                                        "reason": "Local"},
            "DataTransfer": lambda: {"vendorId": "fuzz", "data": "x" * rng.randint(0, 50)},
            "DiagnosticsStatusNotification": lambda: {"status": "Idle"},
            "FirmwareStatusNotification": lambda: {"status": "Idle"},
        }[action]()
        return [2, self._id(), action, payload]

    def next(self) -> tuple[bytes, str | None, bool]:
        rng = self.rng
        roll = rng.random()
        if self.valid_only:
            frame = self.valid_call()
            return json.dumps(frame).encode(), frame[1], False
        if roll < 0.25:
            frame = self.valid_call()
        elif roll < 0.30:
            frame = rng.choice([[3, self._id(), {}], [4, self._id(), "GenericError", "x", {}]])
        elif roll < 0.75:
            frame = self._mutate_structure(self.valid_call())
        else:
            frame = self.valid_call()
        data = json.dumps(frame, ensure_ascii=rng.random() < 0.5, separators=(",", ":")).encode(
            errors="surrogatepass")
        if roll >= 0.75:
            data = self._mutate_text(data)
        match = _ANSWERABLE.match(data)
        expected = match.group(1).decode() if match and len(data) <= MAX_FRAME_BYTES * 16 else None
        return data, expected, rng.random() < 0.03

    # -- structured mutations ---------------------------------------------------------------

    def _mutate_structure(self, frame: list[Any]) -> list[Any]:
        rng = self.rng
        payload = frame[3]
        for _ in range(rng.randint(1, 3)):
            op = rng.randrange(9)
            if op == 0 and payload:  # a field gets a nasty value
                target, key = self._pick_field(payload)
                target[key] = rng.choice(NASTY)
            elif op == 1 and payload:  # a field goes missing
                target, key = self._pick_field(payload)
                del target[key]
            elif op == 2:  # an unknown field
                payload[rng.choice(["extra", "connectorId", "x" * 40])] = rng.choice(NASTY)
            elif op == 3:  # another action, a made-up one, or not a string
                frame[2] = rng.choice([*ACTIONS, "RemoteStartTransaction", "Reset", "FlyToTheMoon", "", 7, None])
            elif op == 4:  # MessageTypeId
                frame[0] = rng.choice(BAD_TYPE_IDS + [3, 4])
            elif op == 5:  # UniqueId
                frame[1] = rng.choice(BAD_IDS)
            elif op == 6:  # too few / too many elements
                frame = frame[:rng.randint(0, 3)] if rng.random() < 0.5 else [*frame, rng.choice(NASTY)]
            elif op == 7:  # the payload is not an object
                frame[3:4] = [rng.choice([[], "payload", 1, None, [payload]])] if len(frame) > 3 else []
            else:  # moderately deep nesting somewhere
                depth = rng.choice([5, 31, 33, 200])
                value: Any = "deep"
                for _ in range(depth):
                    value = [value] if rng.random() < 0.5 else {"k": value}
                if isinstance(payload, dict):
                    payload[rng.choice(["data", "meterValue", "idTag"])] = value
            if len(frame) < 4 or not isinstance(frame[3], dict):
                break
            payload = frame[3]
        return frame

    def _pick_field(self, payload: dict[str, Any]) -> tuple[Any, Any]:
        """A random (container, key) inside ``payload`` (descending into lists and objects)."""
        target: Any = payload
        key: Any = self.rng.choice(list(payload))
        while isinstance(target[key], (dict, list)) and target[key] and self.rng.random() < 0.6:
            target = target[key]
            key = self.rng.choice(list(target)) if isinstance(target, dict) else self.rng.randrange(len(target))
        return target, key

    # -- byte-level mutations -------------------------------------------------------------

    def _mutate_text(self, data: bytes) -> bytes:
        rng = self.rng
        op = rng.randrange(9)
        at = rng.randrange(len(data) + 1)
        if op == 0:  # truncated
            return data[:at]
        if op == 1:  # random bytes inserted
            return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + data[at:]
        if op == 2 and data:  # one byte flipped
            at = min(at, len(data) - 1)
            return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1:]
        if op == 3:  # a slice duplicated / deleted
            end = rng.randint(at, min(len(data), at + 40))
            return data[:end] + data[at:end] + data[end:] if rng.random() < 0.5 else data[:at] + data[end:]
        if op == 4:  # a value replaced by a token json.dumps cannot write
            return re.sub(rb':"[^"]*"|:-?\d+', lambda _: b":" + rng.choice(RAW_TOKENS), data, count=1)
        if op == 5:  # oversize: over max_frame_bytes, under the transport limit
            if rng.random() < 0.1:
                return data[:-2] + b',"pad":"' + b"x" * rng.randint(MAX_FRAME_BYTES, 2 * MAX_FRAME_BYTES) + b'"}]'
            return data + b" " * rng.randint(1, 64)
        if op == 6:  # garbage after the frame
            return data + rng.choice([b"]", b",", b"}", b" x", b"\x00", b"\n[2]"])
        if op == 7:  # invalid UTF-8 inside a string
            return data.replace(b'":"', b'":"' + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80"]), 1)
        return rng.choice([b"", b" ", b"null", b"[]", b"{}", b"[2]", b'[2,"', b"hello", b"\xff\xfe"]) + data[:at]


class StationRunner:
    """One fuzzing charge point: a connection, its factory and its share of the counts."""

    def __init__(self, url: str, name: str, factory: FrameFactory, report: Report, timeout_s: float) -> None:
        self.url = f"{url}/{name}"
        self.factory = factory
        self.report = report
        self.timeout_s = timeout_s
        self.ws: Any = None

    async def _connect(self) -> None:
        self.ws = await websockets.connect(self.url, subprotocols=["ocpp1.6"], max_size=None,
                                           open_timeout=self.timeout_s, ping_interval=None)

    def _closed(self, exc: ConnectionClosed, pending: str | None) -> None:
        code = str(exc.rcvd.code if exc.rcvd else (exc.sent.code if exc.sent else 1006))
        self.report.closeCodes[code] = self.report.closeCodes.get(code, 0) + 1
        if pending is not None:
            self.report.droppedAnswerable += 1
            self.report.unanswered += 1
        else:
            self.report.droppedOther += 1
        self.ws = None

    async def run(self, frames: int) -> None:
        for _ in range(frames):
            data, expected, binary = self.factory.next()
            if self.ws is None:
                await self._connect()
            self.report.frames += 1
            self.report.cases += 1
            if expected is not None:
                self.report.expectedAnswers += 1
            try:
                await self.ws.send(data, text=not binary)
                if expected is not None:
                    await self._await_answer(expected)
            except ConnectionClosed as exc:
                self._closed(exc, expected)
        await self._sentinel()

    async def _sentinel(self) -> None:
        """A valid Heartbeat: every frame before it on this connection has been handled."""
        if self.ws is None:
            await self._connect()
        frame = self.factory.valid_call("Heartbeat")
        self.report.expectedAnswers += 1
        try:
            await self.ws.send(json.dumps(frame))
            await self._await_answer(frame[1])
        except ConnectionClosed as exc:
            self._closed(exc, frame[1])

    async def _await_answer(self, message_id: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                text = await asyncio.wait_for(self.ws.recv(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                self.report.hangs += 1
                self.report.unanswered += 1
                await self.ws.close()
                self.ws = None
                return
            answer = json.loads(text)
            if answer[1] != message_id:
                continue  # an answer to a frame the oracle did not count on
            if answer[0] == 3:
                self.report.answers["CALLRESULT"] = self.report.answers.get("CALLRESULT", 0) + 1
                if isinstance(answer[2], dict) and isinstance(answer[2].get("transactionId"), int):
                    self.factory.tx.append(answer[2]["transactionId"])
                    del self.factory.tx[:-50]
            else:
                self.report.answers[answer[2]] = self.report.answers.get(answer[2], 0) + 1
                if answer[2] not in ERROR_CODES_16:
                    self.report.non16ErrorCodes += 1
            return


# -- handshakes ---------------------------------------------------------------------------------

HANDSHAKE_PATHS = ["/ocpp/", "/ocpp/" + "a" * 65, "/ocpp/%00", "/ocpp/%ff%fe", "/ocpp/..%2f..%2fetc", "/ocpp/ü",
                   "/ocpp/CP%201", "/ocpp/CP/1", "/ocpp/%ED%A0%80", "/" + "x" * 5000, "/", "/ocpp", "/health",
                   "/metrics", "/ocpp/FUZZ-HS?x=%zz", "/ocpp/FUZZ-HS#frag"]
RAW_REQUESTS = [b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", b"GET / HTTP/1.1\r\n\r\n", b"\r\n\r\n",
                b"GET /ocpp/FUZZ-HS HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: bad\r\nSec-WebSocket-Version: 13\r\n\r\n",
                b"POST /ocpp/FUZZ-HS HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
                b"GET /ocpp/FUZZ-HS HTTP/1.1\r\nX: " + b"y" * 20000 + b"\r\n\r\n",
                b"GET /ocpp/FUZZ-HS HTTP/9.9\r\n\r\n", b"\x00" * 64, b"GET /ocpp/FUZZ-HS HTTP/1.1\r\nHost: x"]


async def fuzz_handshake(rng: random.Random, host: str, port: int, report: Report, timeout_s: float) -> None:
    """One mutated handshake: a WebSocket upgrade with an odd path or subprotocols, or raw
    bytes over TCP (then EOF). The server must answer or close within ``timeout_s``."""
    report.handshakes += 1
    report.cases += 1
    try:
        if rng.random() < 0.5:
            path = rng.choice(HANDSHAKE_PATHS)
            protocols = rng.choice([["ocpp1.6"], ["ocpp2.0.1"], None, ["ocpp1.6", "ocpp1.5"]])
            async with asyncio.timeout(timeout_s):
                try:
                    async with websockets.connect(f"ws://{host}:{port}{path}", subprotocols=protocols,
                                                  open_timeout=timeout_s) as ws:
                        await ws.send('[2,"hs","Heartbeat",{}]')
                        await ws.recv()
                except (WebSocketException, ValueError, OSError):
                    pass
        else:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
            try:
                writer.write(rng.choice(RAW_REQUESTS))
                writer.write_eof()
                async with asyncio.timeout(timeout_s):
                    while await reader.read(65536):
                        pass
            finally:
                writer.close()
    except TimeoutError:
        report.hangs += 1
    except (ConnectionError, OSError):
        pass


# -- the server, health, domain -------------------------------------------------------------------

def rss_mb(pid: int) -> float:
    """Resident memory (MB) of the process and its children."""
    try:
        proc = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20
    except psutil.Error:
        return 0.0


async def probe_health(http: httpx.AsyncClient, server: Server, report: Report, timeout_s: float) -> str | None:
    """Both /health endpoints; returns the domain stream's position (None when unreadable)."""
    position = None
    for url in (f"{server.api_url}/health", f"http://127.0.0.1:{server.ocpp_port}/health"):
        report.healthProbes += 1
        try:
            response = await http.get(url, timeout=timeout_s)
        except httpx.TimeoutException:
            report.hangs += 1
            report.healthFailures += 1
            continue
        except httpx.HTTPError:
            report.healthFailures += 1
            continue
        body = response.json()
        if response.status_code != 200 or body.get("status") not in ("ok", "healthy"):
            report.healthFailures += 1
        if "log" in body:
            position = body["log"].get("positions", {}).get("domain")
    return position


class Control:
    """The control charge point: valid frames only; changes connector 1's status each batch."""

    def __init__(self, url: str) -> None:
        self.url = f"{url}/{CONTROL}"
        self.n = 0
        self.status = "Available"

    async def change_status(self) -> None:
        self.n += 1
        self.status = "Unavailable" if self.status == "Available" else "Available"
        frame = [2, f"ctrl-{self.n}", "StatusNotification",
                 {"connectorId": 1, "errorCode": "NoError", "status": self.status, "timestamp": now_iso()}]
        async with websockets.connect(self.url, subprotocols=["ocpp1.6"]) as ws:
            await ws.send(json.dumps(frame))
            answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert answer[:2] == [3, frame[1]], answer


async def domain_advances(http: httpx.AsyncClient, server: Server, control: Control, report: Report,
                          timeout_s: float) -> None:
    """The control station changes its status; the domain position must move within
    ``timeout_s`` (polled: the server processes it asynchronously)."""
    report.domainChecks += 1
    before = await probe_health(http, server, Report(), timeout_s)
    await control.change_status()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await probe_health(http, server, Report(), timeout_s) != before:
            return
        await asyncio.sleep(0.2)  # polling another process's progress
    report.domainStalls += 1


def final_status_seen(server: Server, control: Control, timeout_s: float) -> bool:
    """Whether the control station's last status reached the domain stream."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = subprocess.run(chargelog_cmd("events", "--stream", "domain", "--charge-point", CONTROL,
                                            "--type", "connector.status.changed"),
                              env={**os.environ, **server.env}, capture_output=True, text=True, timeout=120)
        lines = done.stdout.splitlines()
        if lines and json.loads(lines[-1])["payload"].get("status") == control.status:
            return True
        time.sleep(1.0)  # polling another process's progress
    return False


def server_log_problems(path: Path) -> tuple[int, list[str]]:
    """(lines with a traceback, up to 20 distinct ERROR/CRITICAL messages) of a server log
    written with ``CHARGELOG_LOG_FORMAT=json`` (other lines: counted by "Traceback")."""
    tracebacks, errors = 0, set()
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            tracebacks += "Traceback" in line
            continue
        if not isinstance(entry, dict):
            continue
        tracebacks += "exception" in entry
        if str(entry.get("level", "")).lower() in ("error", "critical"):
            errors.add(f"[{entry.get('logger')}] {entry.get('event')}"[:160])
    return tracebacks, sorted(errors)[:20]


async def run_fuzz(cases: int = 100_000, *, stations: int = 8, engine: str = "embedded", seed: int = 1,
                   batch: int = 2000, timeout_s: float = 20.0, handshake_share: float = 0.01,
                   check_domain: bool = True, valid_only: bool = False, work_dir: Path | None = None) -> Report:
    """Start ``chargelog serve``, fuzz it with ``cases`` cases (module docstring), stop it.
    ``check_domain``: run the per-batch and final domain checks; ``valid_only``: send only
    valid CALLs and no handshakes (the floor to compare frames/s with). Returns the
    :class:`Report`."""
    rng = random.Random(seed)
    report = Report(engine=engine, seed=seed, stations=stations)
    tmp = work_dir or Path(tempfile.mkdtemp(prefix="ocpp-fuzz-"))
    server_log = tmp / "serve.log"
    # every charge point here comes from 127.0.0.1: lift the per-address quota of unknown ids
    env = serve_env(engine, tmp / "data") | {"CHARGELOG_UNKNOWN_CHARGE_POINTS_PER_ADDRESS_PER_HOUR": "100000",
                                             "CHARGELOG_LOG_FORMAT": "json"}  # read back by server_log_problems
    server = Server(env, log_path=server_log).start()
    assert server.proc is not None
    shared_tx: list[int] = []
    runners = [StationRunner(server.ocpp_url, f"FUZZ-{i}",
                             FrameFactory(random.Random(rng.random()), f"FUZZ-{i}", shared_tx,
                                          valid_only=valid_only), report, timeout_s)
               for i in range(stations)]
    control = Control(server.ocpp_url)
    started = time.monotonic()
    try:
        async with httpx.AsyncClient() as http:
            while report.cases < cases and report.crashes == 0:
                size = min(batch, cases - report.cases)
                handshakes = 0 if valid_only else int(size * handshake_share)
                per_station = max(1, -(-(size - handshakes) // stations))  # rounded up
                fuzz_started = time.monotonic()
                await asyncio.gather(*(r.run(per_station) for r in runners),
                                     *(fuzz_handshake(rng, "127.0.0.1", server.ocpp_port, report, timeout_s)
                                       for _ in range(handshakes)))
                report.fuzzS += time.monotonic() - fuzz_started
                if server.proc.poll() is not None:
                    report.crashes += 1
                    break
                await probe_health(http, server, report, timeout_s)
                if check_domain:
                    await domain_advances(http, server, control, report, timeout_s)
                rss = rss_mb(server.proc.pid)
                report.rssStartMb = report.rssStartMb or rss
                report.rssEndMb = rss
                report.rssPeakMb = max(report.rssPeakMb, rss)
                report.rssSamplesMb.append(round(rss, 1))
        report.durationS = round(time.monotonic() - started, 1)
        report.fuzzS = round(report.fuzzS, 1)
        report.framesPerS = round(report.frames / report.fuzzS, 1) if report.fuzzS else 0.0
        if check_domain and report.crashes == 0:
            report.domainFinalStatusSeen = final_status_seen(server, control, 4 * timeout_s)
    finally:
        for runner in runners:
            if runner.ws is not None:
                await runner.ws.close()
        if server.proc.poll() is None:
            server.stop()
        report.serverLogTracebacks, report.serverLogErrors = server_log_problems(server_log)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="frames + handshakes to send (default 100000)")
    parser.add_argument("--stations", type=int, default=8, help="fuzzing charge points (default 8)")
    parser.add_argument("--engine", choices=["embedded", "kafka"], default="embedded")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=2000, help="cases between health probes (default 2000)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before a missing answer is a hang")
    parser.add_argument("--valid-only", action="store_true",
                        help="the floor: only valid CALLs, no mutations or handshakes (compare framesPerS)")
    args = parser.parse_args()
    report = asyncio.run(run_fuzz(args.cases, stations=args.stations, engine=args.engine, seed=args.seed,
                                  batch=args.batch, timeout_s=args.timeout, valid_only=args.valid_only))
    print(json.dumps(asdict(report) | {"clean": report.clean}, indent=1))


if __name__ == "__main__":
    main()
