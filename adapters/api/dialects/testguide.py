"""The test guide's commands (specs/websocket-charging-flow-test-guide.md) on the
Communication Protocol's ``?token=`` connection (:mod:`.comms`): ``{"action", "data"}`` in,
``{"type": "response", "action", "data", "timestamp"}`` out.

==================  ====================================================================
action              ``data`` of the response (``success: true``)
==================  ====================================================================
start_charging      {charger_id, connector_id = 1} → session_id, transaction_id,
                    charger_id, connector_id, status, message_id, message — once the charge
                    point has started the transaction (``Settings.charging_start_wait_s``)
stop_charging       {charger_id?} (absent: the user's active session) → session_id,
                    transaction_id, charger_id, connector_id, status, energy_delivered (kWh),
                    duration (s), message_id, message
get_charger_status  {charger_id} → charger_id, station_id, status, online and the
                    ``charger_status_update`` data (counts, display, connector_status, …)
get_active_session  {} → has_active_session, session (the ``active_session_update`` data or
                    null)
list_chargers       {} → chargers (the ``charger_list_update`` stations)
==================  ====================================================================

Errors (the guide's "Error Responses"): a message that is not a JSON object with a string
``action`` and an object (or absent) ``data`` → ``{"type": "error", "message": "Invalid message
format", "timestamp"}``; an unknown action or a failed one → a ``response`` with
``{"success": false, "error", "message"}``. More than ``charging_messages_per_min`` commands
per minute per user → ``{"type": "error", "message": "Rate limit exceeded"}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..caller import Caller, CoreError
from . import comms_codec as cc
from ..ws.wire import BadMessage, loads
from .comms_actions import ActionFailed, parse_charger_id, parse_connector_id, start_session, stop_session

if TYPE_CHECKING:
    from .comms import CommsSession

ACTIONS = ("start_charging", "stop_charging", "get_charger_status", "get_active_session", "list_chargers")


def response(action: str, data: dict[str, Any]) -> dict[str, Any]:
    """``{"type": "response", "action", "data", "timestamp"}``."""
    return {"type": "response", "action": action, "data": data, "timestamp": cc.now_iso()}


def parse_command(text: str) -> tuple[str, dict[str, Any]] | None:
    """``(action, data)`` of a well-formed command, else None."""
    try:
        msg = loads(text)
    except BadMessage:
        return None
    if not isinstance(msg, dict):
        return None
    action, data = msg.get("action"), msg.get("data")
    if not isinstance(action, str) or not action or not (data is None or isinstance(data, dict)):
        return None
    return action, data or {}


class TestGuideCommands:
    """Routes the commands of one :class:`~.comms.CommsSession`."""

    __test__ = False  # not a pytest class

    def __init__(self, session: CommsSession) -> None:
        self.session = session
        self.core = session.core
        self.wait_s = session.settings.charging_start_wait_s
        self.handlers: dict[str, Callable[[Caller, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "start_charging": self.start_charging, "stop_charging": self.stop_charging,
            "get_charger_status": self.get_charger_status, "get_active_session": self.get_active_session,
            "list_chargers": self.list_chargers}

    async def handle(self, text: str) -> None:
        """Answer one client message; slow commands run alongside the push stream."""
        session, caller = self.session, self.session.caller
        assert caller is not None
        parsed = parse_command(text)
        if parsed is None:
            await session.sender.send(cc.error("Invalid message format"))
            return
        if not session.state.limits.messages.hit(f"user:{caller.userId}").allowed:
            await session.sender.send(cc.error("Rate limit exceeded"))
            return
        action, data = parsed
        handler = self.handlers.get(action)
        if handler is None:
            await session.sender.send(response(action, {
                "success": False, "error": f"Unknown action: {action}",
                "message": f"Supported actions: {', '.join(ACTIONS)}"}))
            return
        session.spawn(self._run(action, handler, caller, data))

    async def _run(self, action: str, handler: Callable[[Caller, dict[str, Any]], Awaitable[dict[str, Any]]],
                   caller: Caller, data: dict[str, Any]) -> None:
        try:
            body = await handler(caller, data)
        except ActionFailed as exc:
            body = exc.body()
        except CoreError as exc:
            body = ActionFailed(exc.kind, exc.message, exc.correlationId).body()
        await self.session.sender.send(response(action, body))

    async def start_charging(self, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
        charger_id = parse_charger_id(data.get("charger_id"), required=True)
        assert charger_id is not None
        return await start_session(self.core, caller, charger_id, parse_connector_id(data.get("connector_id")),
                                   self.wait_s)

    async def stop_charging(self, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
        return await stop_session(self.core, caller, parse_charger_id(data.get("charger_id"), required=False),
                                  self.wait_s)

    async def get_charger_status(self, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
        charger_id = parse_charger_id(data.get("charger_id"), required=True)
        assert charger_id is not None
        cp = await self.session.charge_point(caller, charger_id)
        if cp is None:
            raise ActionFailed("charger_not_found", charger_id)
        station = await self.session.station_of(caller, cp, charger_id)
        update = cc.charger_status_update(cp, station.station_id)
        return {"success": True, "charger_id": cp.chargePointId, "station_id": station.station_id,
                "station_name": station.station_name, "status": update["status"], "online": cp.online,
                **update["data"]}

    async def get_active_session(self, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
        found = await self.core.active_session(caller)
        session = await self.session.active_session_data(caller, found)
        return {"success": True, "has_active_session": session is not None, "session": session}

    async def list_chargers(self, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
        return {"success": True, "chargers": await self.session.stations(caller)}
