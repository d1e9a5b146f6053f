"""The central system's answers to the ten charge-point-initiated OCPP 1.6 messages
(OCPP 1.6 §4 "Operations initiated by Charge Point"), as ``@on(Action…)`` handlers; the four
of the Security Extensions are in :mod:`.security`.

Each handler receives the CALL's payload in snake_case (the ``ocpp`` package's routing) and
returns the ``ocpp.v16.call_result`` dataclass; what it decides that the charge point does
not see (the id tag's ``userId``) goes on the CALLRESULT's event via ``decide``. Both are
durable before the answer is sent (:mod:`.connection`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.datatypes import IdTagInfo as OcppIdTagInfo
from ocpp.v16.enums import Action, AuthorizationStatus, DataTransferStatus, RegistrationStatus

from .connection import OcppConnection
from .ports import call_registry
from .security import SecurityExtensions


def now_iso() -> str:
    """The current UTC time, ISO 8601 with milliseconds and ``Z`` (OCPP 1.6 dateTime)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _field(info: Any, name: str) -> Any:
    return info.get(name) if isinstance(info, dict) else getattr(info, name, None)


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return value


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class CentralSystemConnection(SecurityExtensions, OcppConnection):
    """An :class:`OcppConnection` that answers per OCPP 1.6 and the gateway's settings, and
    the Security Extensions' messages (:mod:`.security`)."""

    async def id_tag_info(self, id_tag: str) -> OcppIdTagInfo:
        """IdTagInfo (OCPP 1.6 §7.18) for ``id_tag`` under ``settings.id_tag_policy``:
        "accept-all" → Accepted; "registry" → the registry's status, Invalid when unknown,
        Expired when its ``expiryDate`` has passed. Records ``userId`` via ``decide``."""
        if self.gateway.settings.id_tag_policy == "accept-all":
            return OcppIdTagInfo(status=AuthorizationStatus.accepted)
        info = await call_registry(self.gateway.registry, "lookup", id_tag)
        if info is None:
            self.decide(idTagStatus="Invalid")
            return OcppIdTagInfo(status=AuthorizationStatus.invalid)
        status = str(_field(info, "status") or "Accepted")
        expiry = _as_datetime(_field(info, "expiryDate"))
        if status == "Accepted" and expiry is not None and expiry <= datetime.now(UTC):
            status = "Expired"
        user_id = _field(info, "userId")
        self.decide(idTagStatus=status, **({"userId": user_id} if user_id else {}))
        return OcppIdTagInfo(status=AuthorizationStatus(status), expiry_date=_iso(expiry),
                             parent_id_tag=_field(info, "parentIdTag"))

    async def registration_status(self) -> RegistrationStatus:
        """BootNotification status by ``settings.registration_policy``: "accept" →
        Accepted, "pending" → Pending, "registry" → Accepted if the charge point is in the
        registry, else Rejected (OCPP 1.6 §4.2)."""
        policy = self.gateway.settings.registration_policy
        if policy == "pending":
            return RegistrationStatus.pending
        if policy == "registry":
            known = await call_registry(self.gateway.registry, "is_known", self.id, default=False)
            return RegistrationStatus.accepted if known else RegistrationStatus.rejected
        return RegistrationStatus.accepted

    @on(Action.boot_notification)
    async def on_boot_notification(self, call_unique_id: str, **_: Any) -> call_result.BootNotification:
        return call_result.BootNotification(current_time=now_iso(),
                                            interval=self.gateway.settings.heartbeat_interval_s,
                                            status=await self.registration_status())

    @on(Action.heartbeat)
    async def on_heartbeat(self, call_unique_id: str) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=now_iso())

    @on(Action.status_notification)
    async def on_status_notification(self, call_unique_id: str, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str, call_unique_id: str) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info=await self.id_tag_info(id_tag))

    @on(Action.start_transaction)
    async def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int, timestamp: str,
                                   call_unique_id: str, **_: Any) -> call_result.StartTransaction:
        info = await self.id_tag_info(id_tag)
        # §6.46: a transactionId is always assigned, also when the id tag is refused.
        transaction_id, reused = await self.gateway.txids.allocate(
            self.id, connector_id, id_tag, meter_start, timestamp, message_id=call_unique_id)
        self.decide(transactionId=transaction_id, **({"retried": True} if reused else {}))
        return call_result.StartTransaction(transaction_id=transaction_id, id_tag_info=info)

    @on(Action.stop_transaction)
    async def on_stop_transaction(self, meter_stop: int, timestamp: str, transaction_id: int,
                                  call_unique_id: str, id_tag: str | None = None,
                                  **_: Any) -> call_result.StopTransaction:
        self._check_transaction(transaction_id, Action.stop_transaction, call_unique_id)
        info = await self.id_tag_info(id_tag) if id_tag is not None else None
        return call_result.StopTransaction(id_tag_info=info)

    @on(Action.meter_values)
    async def on_meter_values(self, connector_id: int, call_unique_id: str,
                              transaction_id: int | None = None, **_: Any) -> call_result.MeterValues:
        if transaction_id is not None:
            self._check_transaction(transaction_id, Action.meter_values, call_unique_id)
        return call_result.MeterValues()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, call_unique_id: str, **_: Any) -> call_result.DataTransfer:
        # §4.3: no vendor extensions are implemented here; the frame is recorded as sent.
        return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(
            self, status: str, call_unique_id: str) -> call_result.DiagnosticsStatusNotification:
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(
            self, status: str, call_unique_id: str) -> call_result.FirmwareStatusNotification:
        return call_result.FirmwareStatusNotification()

    def _check_transaction(self, transaction_id: int, action: str, message_id: str) -> None:
        """A transactionId never assigned, or assigned to another charge point, still gets a
        valid CALLRESULT (a CALLERROR would make the station retry forever, OCPP 1.6 §4.10),
        plus an ``ocpp.anomaly`` event (kind "unknown-transaction" / "foreign-transaction");
        the fold then touches no session (docs/projections.md)."""
        owner = self.gateway.txids.owner(transaction_id)
        if owner is None:
            self.anomaly("unknown-transaction", str(action), message_id,
                         f"transactionId {transaction_id} was never assigned")
        elif owner != self.id:
            self.anomaly("foreign-transaction", str(action), message_id,
                         f"transactionId {transaction_id} belongs to another charge point")
