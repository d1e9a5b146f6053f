"""OCPP transactionIds (StartTransaction.conf, OCPP 1.6 §6.46): unique across every gateway
process, positive 32-bit integers, and stable under retries.

Each new id is one ``ocpp.transaction.allocated`` event on the one-partition ``txids``
stream (docs/contracts.md); the id is that event's position, i.e. its offset + 1 — the log
makes it unique on both engines, whichever gateway appended it. The event carries what the
charge point sent (``chargePointId``, ``connectorId``, ``idTag``, ``meterStart`` Wh,
``timestamp``), so a StartTransaction retried with the same values gets the same id back
(the map is folded from the stream at start and followed live).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from chargelog.adapters.log.follow import follow

from chargelog.domain.envelope import Event, Source
from chargelog.domain.log import START, EventLog, Position

from .tasks import cancel_and_wait

TXIDS = "txids"
ALLOCATED = "ocpp.transaction.allocated"
MAX_INT32 = 2**31 - 1

Key = tuple[str, int, str, int, str]


class TransactionIdExhausted(RuntimeError):
    """The ``txids`` stream has passed 2**31 - 1 records."""


def _key(payload: dict[str, Any]) -> Key:
    return (payload["chargePointId"], int(payload["connectorId"]), payload["idTag"],
            int(payload["meterStart"]), payload["timestamp"])


class TransactionIds:
    """Allocates and remembers transactionIds. ``await start()`` folds the ``txids``
    stream and follows it; ``await stop()`` ends the follower."""

    def __init__(self, log: EventLog, gateway_id: str) -> None:
        self.log = log
        self.gateway_id = gateway_id
        self._by_key: dict[Key, int] = {}
        self._owner: dict[int, str] = {}
        self._allocated_by: dict[Key, str] = {}  # eventId of the allocation _by_key holds
        self._follower: asyncio.Task[None] | None = None

    async def start(self) -> None:
        position = START
        while True:
            records = await self.log.read(TXIDS, position, limit=10000)
            if not records:
                break
            for record in records:
                self._fold(record.event, record.offset + 1)
                position = record.position
        self._follower = asyncio.create_task(self._follow(position), name="ocpp-txids-follower")

    async def stop(self) -> None:
        await cancel_and_wait(self._follower)

    async def _follow(self, after: Position) -> None:
        async with contextlib.aclosing(follow(self.log, TXIDS, after, name=f"txids {self.gateway_id}")) as records:
            async for record in records:
                self._fold(record.event, record.offset + 1)

    def _fold(self, event: Event, transaction_id: int) -> None:
        """The first allocation of a key wins; a repeated record of that same allocation
        (same eventId: a producer retry after a lost acknowledgement, docs/log-engines.md)
        moves it to the last copy — the offset ``append`` returned and the station was told."""
        if event.type == ALLOCATED:
            key = _key(event.payload)
            current = self._by_key.get(key)
            if current is None or (self._allocated_by.get(key) == event.eventId and transaction_id > current):
                self._by_key[key] = transaction_id
                self._allocated_by[key] = event.eventId
            self._owner[transaction_id] = event.payload["chargePointId"]

    def owner(self, transaction_id: int) -> str | None:
        """The chargePointId ``transaction_id`` was allocated to, None when unknown."""
        return self._owner.get(transaction_id)

    async def allocate(self, charge_point_id: str, connector_id: int, id_tag: str,
                       meter_start: int, timestamp: str, *, message_id: str) -> tuple[int, bool]:
        """``(transactionId, reused)``: the id already given to this exact StartTransaction
        (``reused`` True), else a new one, durable on return. Raises
        :class:`TransactionIdExhausted` past 2**31 - 1."""
        payload = {"chargePointId": charge_point_id, "connectorId": connector_id, "idTag": id_tag,
                   "meterStart": meter_start, "timestamp": timestamp}
        key = _key(payload)
        existing = self._by_key.get(key)
        if existing is not None:
            return existing, True
        event = Event(type=ALLOCATED, chargePointId="-", source=Source.OCPP,
                      payload={**payload, "messageId": message_id, "gatewayId": self.gateway_id})
        (position,) = await self.log.append(TXIDS, [event])
        transaction_id = position.total  # one partition: offset + 1
        if transaction_id > MAX_INT32:
            raise TransactionIdExhausted(f"transactionId {transaction_id} exceeds 2**31 - 1")
        self._fold(event, transaction_id)
        return self._by_key[key], False
