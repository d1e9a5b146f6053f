"""Who holds which charge point's connection: a pure fold over the ``source`` stream's
connection events (docs/contracts.md), run by every gateway, so that a command is executed
by exactly the gateway holding the connection and an offline answer is given by exactly one.

Rules:

* ``ocpp.connection.opened`` → the charge point is online at ``gatewayId`` (its
  ``connectionId`` identifies the connection).
* ``ocpp.connection.closed`` / ``ocpp.connection.offline`` of *that* connection → offline;
  the last holder is remembered. Events of an older, replaced connection are ignored.
* ``ocpp.gateway.started`` / ``ocpp.gateway.stopped`` → the set of live gateways.

Offline answer for a command: the last holder when the charge point is offline and that
gateway is live; otherwise (never held, or its gateway stopped) the live gateway with the
smallest ``gatewayId``. A gateway that crashed stays "live" until a gateway with the same
``gateway_id`` starts, or — for default ``host:pid`` ids — any gateway on the same host
starts and finds that process gone (set ``CHARGELOG_GATEWAY_ID`` in multi-host production).
"""

from __future__ import annotations

from dataclasses import dataclass

from chargelog.domain.envelope import Event

OPENED = "ocpp.connection.opened"
CLOSED = "ocpp.connection.closed"
REPLACED = "ocpp.connection.replaced"
OFFLINE = "ocpp.connection.offline"
GATEWAY_STARTED = "ocpp.gateway.started"
GATEWAY_STOPPED = "ocpp.gateway.stopped"
TYPES = (OPENED, CLOSED, OFFLINE, GATEWAY_STARTED, GATEWAY_STOPPED)


@dataclass
class Holder:
    """The last connection of a charge point: at ``gateway_id``, ``online`` or not."""

    gateway_id: str
    connection_id: str | None
    remote_address: str | None
    online: bool


class Presence:
    """The fold. ``apply`` every source event in log order (others are ignored)."""

    def __init__(self) -> None:
        self.holders: dict[str, Holder] = {}
        self.gateways: set[str] = set()

    def apply(self, event: Event) -> None:
        p = event.payload
        if event.type == OPENED:
            self.holders[event.chargePointId] = Holder(p.get("gatewayId", ""), p.get("connectionId"),
                                                       p.get("remoteAddress"), True)
        elif event.type in (CLOSED, OFFLINE):
            holder = self.holders.get(event.chargePointId)
            if holder is not None and p.get("connectionId") in (None, holder.connection_id):
                holder.online = False
        elif event.type == GATEWAY_STARTED:
            self.gateways.add(p["gatewayId"])
        elif event.type == GATEWAY_STOPPED:
            self.gateways.discard(p["gatewayId"])

    def online_elsewhere(self, charge_point_id: str, gateway_id: str) -> Holder | None:
        """The holder when the charge point is online at another gateway, else None."""
        holder = self.holders.get(charge_point_id)
        if holder is not None and holder.online and holder.gateway_id != gateway_id:
            return holder
        return None

    def answers_offline(self, charge_point_id: str, gateway_id: str) -> bool:
        """Whether ``gateway_id`` (which does not hold the connection) gives the "offline"
        answer for a command to ``charge_point_id``."""
        holder = self.holders.get(charge_point_id)
        if holder is not None and holder.gateway_id in self.gateways:
            # online: the holder executes it; offline: its last holder answers
            return not holder.online and holder.gateway_id == gateway_id
        return bool(self.gateways) and min(self.gateways) == gateway_id

    def stale_for(self, gateway_ids: set[str]) -> list[tuple[str, Holder]]:
        """Charge points recorded online at one of ``gateway_ids`` (after a restart those
        connections are gone)."""
        return [(cp, h) for cp, h in self.holders.items() if h.online and h.gateway_id in gateway_ids]
