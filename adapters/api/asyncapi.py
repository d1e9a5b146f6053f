"""The AsyncAPI 3.0 document of every WebSocket dialect served at ``/ws``: each dialect contributes its fragment (:meth:`Dialect.asyncapi`), generated from
its pydantic models. ``python -m chargelog.adapters.api.asyncapi`` prints it (checked in as
docs/asyncapi.json)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .dialects import Dialect, load_dialects

TITLE = "chargelog client WebSocket dialects"
VERSION = "0.1.0"


def asyncapi_document(dialects: Sequence[Dialect] | None = None) -> dict[str, Any]:
    """Merge the dialects' ``channels``, ``operations`` and ``components``."""
    doc: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {"title": TITLE, "version": VERSION,
                 "description": "One server, several client dialects on one event-sourced core. "
                                "A connection's dialect is chosen by its handshake or first message."},
        "servers": {"local": {"host": "localhost:8082", "protocol": "ws"}},
        "channels": {}, "operations": {}, "components": {"messages": {}, "schemas": {}},
    }
    for dialect in dialects if dialects is not None else load_dialects():
        fragment = dialect.asyncapi()
        doc["channels"].update(fragment.get("channels", {}))
        doc["operations"].update(fragment.get("operations", {}))
        for kind in ("messages", "schemas"):
            doc["components"][kind].update(fragment.get("components", {}).get(kind, {}))
    return doc


def main() -> None:
    print(json.dumps(asyncapi_document(), indent=2, sort_keys=False))


if __name__ == "__main__":
    main()
