"""Cost of building and decoding one event envelope (domain/envelope.py), per way of doing it.

Prints µs per event (best of ``--repeat`` timings of ``--number`` calls each) for an
``ocpp.frame`` event carrying a MeterValues CALL, the gateway's hottest event:

* ``Event(...)`` — pydantic validation with every field given (what ``frame_event`` does);
* ``Event.model_construct(...)`` — no validation, but pydantic's Python loop over fields,
  defaults and aliases;
* ``Event.decode(bytes)`` — ``model_validate_json`` of the stored envelope, and ``json.loads``
  of the same bytes for comparison (the JSON parse alone);
* ``DecodedRecords`` hit — the Kafka engine's shared decoded copy (adapters/log/kafka_decoded.py)
  handing a second reader the event the first one decoded.

Usage::

    python bench/envelope_bench.py [--number 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's chargelog package

from chargelog.adapters.log.kafka_decoded import DecodedRecords  # noqa: E402
from chargelog.domain.envelope import ChainLink, Event, Principal, Source, utcnow  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--number", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    now = utcnow()
    sample = {"timestamp": "2026-01-01T00:00:00Z",
              "sampledValue": [{"value": "123.4", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}
    payload = {"direction": "in", "messageTypeId": 2, "messageId": "abc123", "action": "MeterValues",
               "payload": {"connectorId": 1, "transactionId": 5, "meterValue": [sample]},
               "raw": json.dumps([2, "abc123", "MeterValues", {"connectorId": 1, "meterValue": [sample]}])}
    fields = {"eventId": "01900000-0000-7000-8000-000000000000", "type": "ocpp.frame", "chargePointId": "CP1",
              "occurredAt": now, "recordedAt": now, "source": Source.OCPP,
              "principal": Principal(kind="chargePoint", id="CP1"), "correlationId": None, "causationId": None,
              "schemaVersion": 1, "payload": payload}
    assert Event.model_construct(**fields) == Event(**fields)
    stored = Event(**fields, chain=ChainLink(writer="w", seq=1, hash="0" * 64)).encode()
    decoded = DecodedRecords()
    decoded.event("t", 0, 0, stored)
    ways = {
        "Event(...) validated": lambda: Event(**fields),
        "Event.model_construct(...)": lambda: Event.model_construct(**fields),
        "Event.decode(bytes)": lambda: Event.decode(stored),
        "json.loads(bytes) alone": lambda: json.loads(stored),
        "DecodedRecords hit (second reader)": lambda: decoded.event("t", 0, 0, stored),
    }
    print(f"envelope of {len(stored)} bytes; µs per event, best of {args.repeat} × {args.number}")
    print("| way | µs |\n| --- | ---: |")
    for name, call in ways.items():
        best = min(timeit.repeat(call, number=args.number, repeat=args.repeat)) / args.number
        print(f"| {name} | {best * 1e6:.2f} |")


if __name__ == "__main__":
    main()
