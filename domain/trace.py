"""Builders of source events shaped as the OCPP gateway records them (docs/contracts.md,
"Source events"), for tests, benchmarks and replays of real traces.

A :class:`Trace` plays one charge point: each method returns the source events the gateway
would append for that exchange (an inbound CALL and the central system's CALLRESULT to it; a
command's ``command.requested``, the outbound CALL and the charge point's answer), with
increasing ``occurredAt``. OCPP payloads follow OCPP 1.6-J (edition 2) §6.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from .envelope import Event, Principal, Source, new_event_id


class Trace:
    """Source events of one charge point ``charge_point_id``; ``clock`` starts at ``start``
    and advances ``step`` per event."""

    def __init__(self, charge_point_id: str, start: datetime | None = None,
                 step: timedelta = timedelta(seconds=1)) -> None:
        self.chargePointId = charge_point_id
        self.clock = start or datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
        self.step = step
        self._ids = itertools.count(1)

    def now(self) -> str:
        """The current trace time as ISO 8601 text."""
        return self.clock.isoformat()

    def _event(self, type_: str, payload: dict[str, Any], *, source: Source = Source.OCPP,
               correlation_id: str | None = None, principal: Principal | None = None) -> Event:
        self.clock += self.step
        return Event(eventId=new_event_id(), type=type_, chargePointId=self.chargePointId,
                     occurredAt=self.clock, recordedAt=self.clock, source=source,
                     principal=principal or Principal(kind="chargePoint", id=self.chargePointId),
                     correlationId=correlation_id, payload=payload)

    def frame(self, direction: str, kind: int, message_id: str, action: str | None,
              payload: dict[str, Any], correlation_id: str | None = None, **extra: Any) -> Event:
        """One ``ocpp.frame`` source event, with its OCPP-J text in ``raw`` (as the gateway
        records it: ``[2, id, action, payload]`` for a CALL, ``[3, id, payload]`` for a
        CALLRESULT)."""
        frame: list[Any] = [kind, message_id, action, payload] if kind == 2 else [kind, message_id, payload]
        return self._event("ocpp.frame", {"direction": direction, "messageTypeId": kind,
                                          "messageId": message_id, "action": action,
                                          "payload": payload, "raw": json.dumps(frame, separators=(",", ":")),
                                          **extra}, correlation_id=correlation_id)

    def call_in(self, action: str, request: dict[str, Any], response: dict[str, Any] | None = None) -> list[Event]:
        """An inbound CALL and the central system's CALLRESULT (``response``, default ``{}``)."""
        message_id = f"m{next(self._ids)}"
        return [self.frame("in", 2, message_id, action, request),
                self.frame("out", 3, message_id, action, response or {})]

    def call_error(self, action: str, request: Any, error_code: str = "TypeConstraintViolation") -> list[Event]:
        """An inbound CALL the central system answered with a CALLERROR ``error_code``."""
        message_id = f"m{next(self._ids)}"
        return [self.frame("in", 2, message_id, action, request),
                self._event("ocpp.frame", {"direction": "out", "messageTypeId": 4, "messageId": message_id,
                                           "action": action, "payload": {}, "errorCode": error_code,
                                           "errorDescription": "", "errorDetails": {}})]

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` pass on the trace clock."""
        self.clock += timedelta(seconds=seconds)

    def tick(self, stale_after_s: float) -> list[Event]:
        """A ``system.tick`` (the stale-transaction sweep's) with ``staleAfterSeconds``."""
        return [self._event("system.tick", {"staleAfterSeconds": stale_after_s}, source=Source.SYSTEM,
                            principal=Principal(kind="system", id="stale-sweep"))]

    # -- connection ------------------------------------------------------------------------

    def opened(self) -> list[Event]:
        return [self._event("ocpp.connection.opened", {"remoteAddress": "127.0.0.1", "subprotocol": "ocpp1.6",
                                                       "auth": "none", "gatewayId": "g1"})]

    def closed(self) -> list[Event]:
        return [self._event("ocpp.connection.closed", {"code": 1006, "reason": "", "gatewayId": "g1"})]

    def offline(self) -> list[Event]:
        return [self._event("ocpp.connection.offline", {"lastFrameAt": self.now(), "timeoutSeconds": 900},
                            source=Source.SYSTEM)]

    # -- charge point initiated -------------------------------------------------------------

    def boot(self, vendor: str = "V", model: str = "M") -> list[Event]:
        return self.call_in("BootNotification", {"chargePointVendor": vendor, "chargePointModel": model},
                            {"status": "Accepted", "currentTime": self.now(), "interval": 300})

    def status(self, connector_id: int, status: str, error_code: str = "NoError", **extra: Any) -> list[Event]:
        return self.call_in("StatusNotification", {"connectorId": connector_id, "status": status,
                                                   "errorCode": error_code, "timestamp": self.now(), **extra})

    def start(self, connector_id: int, id_tag: str, meter_start: int, transaction_id: int,
              timestamp: str | None = None) -> list[Event]:
        return self.call_in("StartTransaction", {"connectorId": connector_id, "idTag": id_tag,
                                                 "meterStart": meter_start, "timestamp": timestamp or self.now()},
                            {"transactionId": transaction_id, "idTagInfo": {"status": "Accepted"}})

    def meter(self, connector_id: int, transaction_id: int | None, sampled: list[dict[str, Any]],
              timestamp: str | None = None) -> list[Event]:
        request: dict[str, Any] = {"connectorId": connector_id,
                                   "meterValue": [{"timestamp": timestamp or self.now(), "sampledValue": sampled}]}
        if transaction_id is not None:
            request["transactionId"] = transaction_id
        return self.call_in("MeterValues", request)

    def energy(self, connector_id: int, transaction_id: int | None, register_wh: float,
               power_w: float | None = None, soc: float | None = None) -> list[Event]:
        """MeterValues with an energy register (Wh), optional power (W) and SoC (%)."""
        sampled: list[dict[str, Any]] = [{"value": str(register_wh), "measurand": "Energy.Active.Import.Register",
                                          "unit": "Wh", "context": "Sample.Periodic"}]
        if power_w is not None:
            sampled.append({"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W"})
        if soc is not None:
            sampled.append({"value": str(soc), "measurand": "SoC", "unit": "Percent", "location": "EV"})
        return self.meter(connector_id, transaction_id, sampled)

    def stop(self, transaction_id: int, meter_stop: int, reason: str | None = None,
             id_tag: str | None = None, **extra: Any) -> list[Event]:
        request: dict[str, Any] = {"transactionId": transaction_id, "meterStop": meter_stop,
                                   "timestamp": self.now(), **extra}
        if reason:
            request["reason"] = reason
        if id_tag:
            request["idTag"] = id_tag
        return self.call_in("StopTransaction", request, {"idTagInfo": {"status": "Accepted"}})

    # -- commands ---------------------------------------------------------------------------

    def command(self, action: str, request: dict[str, Any], user_id: str, answer: dict[str, Any] | None,
                correlation_id: str | None = None) -> list[Event]:
        """``command.requested``, the outbound CALL and (unless ``answer`` is None) the charge
        point's CALLRESULT ``answer``."""
        correlation_id = correlation_id or new_event_id()
        message_id = f"c{next(self._ids)}"
        events = [
            self._event("command.requested", {"action": action, "request": request, "timeoutSeconds": 30},
                        source=Source.CLIENT, correlation_id=correlation_id,
                        principal=Principal(kind="user", id=user_id)),
            self.frame("out", 2, message_id, action, request, correlation_id),
        ]
        if answer is not None:
            events.append(self.frame("in", 3, message_id, action, answer, correlation_id))
        return events

    def command_failed(self, correlation_id: str, action: str, reason: str) -> list[Event]:
        return [self._event("command.failed", {"action": action, "reason": reason, "errorCode": None,
                                               "detail": None}, source=Source.SYSTEM,
                            correlation_id=correlation_id)]
