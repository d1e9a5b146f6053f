"""The Mobile WebSocket API's AsyncAPI 3.0 fragment, generated from
:mod:`.mobile_models` (mobile-websocket-api.md sections 2–9)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from . import mobile_models as m

CHANNEL = "mobileWs"
#: Schema names are prefixed so fragments of several dialects merge without clashes.
REF = "#/components/schemas/Mobile{model}"


def _schemas() -> dict[str, Any]:
    models: list[type[BaseModel]] = [m.Request, m.Response, m.ErrorResponse, m.Push,
                                     *m.PUSH_DATA_MODELS.values()]
    for params, result in m.ACTIONS.values():
        if params is not None:
            models.append(params)
        if isinstance(result, type) and issubclass(result, BaseModel):
            models.append(result)
    models.extend([m.StationOut, m.SessionOut])
    unique = list(dict.fromkeys(models))
    _, top = models_json_schema([(model, "validation") for model in unique], ref_template=REF)
    return {f"Mobile{name}": schema for name, schema in top.get("$defs", {}).items()}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _result_schema(result: Any) -> dict[str, Any]:
    if isinstance(result, type) and issubclass(result, BaseModel):
        return _ref(result.__name__)
    return TypeAdapter(result).json_schema(ref_template=REF)


def document() -> dict[str, Any]:
    """``{"channels", "operations", "components"}`` for the ``/ws`` mobile dialect."""
    messages: dict[str, Any] = {}
    send_refs, receive_refs = [], []
    for action, (params, result) in m.ACTIONS.items():
        request = {
            "type": "object", "required": ["id", "action"],
            "properties": {"id": {"type": ["string", "integer"]}, "action": {"const": action},
                           "params": _ref(params.__name__) if params else {"type": "object"}}}
        response = {"type": "object", "required": ["id", "result"],
                    "properties": {"id": {"type": ["string", "integer"]}, "result": _result_schema(result)}}
        messages[f"mobile.{action}.request"] = {"name": f"{action} request", "payload": request}
        messages[f"mobile.{action}.response"] = {"name": f"{action} response", "payload": response}
        send_refs.append(f"mobile.{action}.request")
        receive_refs.append(f"mobile.{action}.response")
    messages["mobile.error"] = {"name": "error", "summary": "Section 3.3 error (also a command's failure after pending).",
                                "payload": _ref("ErrorResponse")}
    receive_refs.append("mobile.error")
    for event, model in m.PUSH_DATA_MODELS.items():
        messages[f"mobile.push.{event}"] = {
            "name": event, "summary": f"Section 7 push {event} (plus eventId, position).",
            "payload": {"type": "object", "required": ["event", "data", "eventId"],
                        "properties": {"event": {"const": event}, "data": _ref(model.__name__),
                                       "eventId": {"type": "string"},
                                       "position": {"type": ["string", "null"],
                                                    "description": "Resume token for subscribe/getEventsSince since."}}}}
        receive_refs.append(f"mobile.push.{event}")

    def refs(names: list[str]) -> dict[str, Any]:
        return {n: {"$ref": f"#/components/messages/{n}"} for n in names}

    return {
        "channels": {CHANNEL: {
            "address": "/ws",
            "title": "Mobile WebSocket API (mobile-websocket-api.md)",
            "description": "First message {\"action\": \"auth\", …}. Limits: 10 messages/s, 1 MB per message, "
                           "closed after 60 s without a message.",
            "messages": refs(send_refs + receive_refs)}},
        "operations": {
            "mobileRequest": {"action": "send", "channel": {"$ref": f"#/channels/{CHANNEL}"},
                              "summary": "Client requests {id, action, params}.",
                              "messages": [{"$ref": f"#/channels/{CHANNEL}/messages/{n}"} for n in send_refs]},
            "mobileReceive": {"action": "receive", "channel": {"$ref": f"#/channels/{CHANNEL}"},
                              "summary": "Responses, errors and pushes.",
                              "messages": [{"$ref": f"#/channels/{CHANNEL}/messages/{n}"} for n in receive_refs]},
        },
        "components": {"messages": messages, "schemas": _schemas()},
    }
