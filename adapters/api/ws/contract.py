"""A WebSocket dialect's AsyncAPI 3.0 fragment, generated from its pydantic message models.

A dialect lists what the client sends and what the server sends as ``(message id, model,
summary)`` triples; :func:`fragment` turns them into one channel, a ``send`` and a ``receive``
operation, one component message per triple and the models' JSON Schemas (named
``{Prefix}{Model}`` so the fragments of several dialects merge without clashes). What the
client sends is described as the models validate it; what the server sends as they serialise
(field names, not the read-model names a field is validated from).
:func:`chargelog.adapters.api.asyncapi.asyncapi_document` merges the fragments.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Self

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema

#: (message id, model, summary).
MessageSpec = tuple[str, type[BaseModel], str]


class WireModel(BaseModel):
    """A message (or part) the server sends, built from a read model or a domain payload: a
    field is read by its ``validation_alias`` (the source's name; its annotated type converts)
    or its own name, and sent by its own name, every field always present (also in the schema)."""

    model_config = ConfigDict(populate_by_name=True, from_attributes=True,
                              json_schema_serialization_defaults_required=True)

    @classmethod
    def of(cls, source: Any = None, /, **wire: Any) -> Self:
        """The model of ``source`` (a mapping or a pydantic model such as a read model; names the
        model lacks are ignored) and ``wire`` (fields by their own name, taking precedence),
        each converted by its field's type."""
        values = {} if source is None else dict(source)
        for name, value in wire.items():
            alias = cls.model_fields[name].validation_alias
            values[alias if isinstance(alias, str) else name] = value
        return cls.model_validate(values, extra="ignore")


def model_name(*words: str) -> str:
    """A schema name from a message's words: each part between ``.`` and ``_`` with its first
    letter upper-cased, joined: (``"session_started"``, ``"session_update"``) →
    ``SessionStartedSessionUpdate``, (``"getStations"``, ``"Request"``) → ``GetStationsRequest``."""
    return "".join(part[:1].upper() + part[1:] for word in words for part in re.split(r"[._]", word))


def fragment(channel: str, address: str, title: str, description: str, prefix: str, *,
             send: Sequence[MessageSpec], receive: Sequence[MessageSpec]) -> dict[str, Any]:
    """``{"channels", "operations", "components": {"messages", "schemas"}}`` for one dialect;
    component message ids are ``{prefix.lower()}.{message id}``."""
    ref = f"#/components/schemas/{prefix}{{model}}"
    keys = list(dict.fromkeys([*((model, "validation") for _, model, _ in send),
                               *((model, "serialization") for _, model, _ in receive)]))
    refs, top = models_json_schema(keys, ref_template=ref)
    schemas = {f"{prefix}{name}": schema for name, schema in top.get("$defs", {}).items()}
    messages: dict[str, Any] = {}
    for specs, mode in ((send, "validation"), (receive, "serialization")):
        for name, model, summary in specs:
            messages[f"{prefix.lower()}.{name}"] = {"name": name, "summary": summary, "payload": refs[(model, mode)]}

    def operation(action: str, specs: Sequence[MessageSpec]) -> dict[str, Any]:
        return {"action": action, "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [{"$ref": f"#/channels/{channel}/messages/{prefix.lower()}.{name}"}
                             for name, _, _ in specs]}

    operations = {f"{channel}Receive": operation("receive", receive)}
    if send:
        operations[f"{channel}Send"] = operation("send", send)
    return {"channels": {channel: {"address": address, "title": title, "description": description,
                                   "messages": {m: {"$ref": f"#/components/messages/{m}"} for m in messages}}},
            "operations": operations, "components": {"messages": messages, "schemas": schemas}}
