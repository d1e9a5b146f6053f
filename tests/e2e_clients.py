"""Client sides for end-to-end tests, speaking the documented wire formats over real sockets."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import websockets

TIMEOUT_S = 60.0


class MobileClient:
    """mobile-websocket-api.md: ``{id, action, params}`` → ``{id, result|error}``; pushes
    ``{event, data, eventId, position}`` arrive on :attr:`pushes`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws: Any = None
        self.pushes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.seen: list[dict[str, Any]] = []
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, api_key: str) -> dict[str, Any]:
        self.ws = await websockets.connect(self.url, max_size=2**22)
        self._reader = asyncio.create_task(self._read())
        return await self.call("auth", {"apiKey": api_key})

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                message = json.loads(text)
                if "event" in message:
                    self.seen.append(message)
                    await self.pushes.put(message)
                elif message.get("id") in self._pending:
                    self._pending.pop(message["id"]).set_result(message)
        except websockets.ConnectionClosed:
            pass

    async def call(self, action: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The response message (with ``result`` or ``error``)."""
        request_id = f"req-{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        message: dict[str, Any] = {"id": request_id, "action": action}
        if params is not None:
            message["params"] = params
        await self.ws.send(json.dumps(message))
        return await asyncio.wait_for(future, TIMEOUT_S)

    async def result(self, action: str, params: dict[str, Any] | None = None) -> Any:
        response = await self.call(action, params)
        assert "result" in response, response
        return response["result"]

    async def next_push(self, predicate: Any, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        """The first push (from now on, in order) for which ``predicate(push)`` is true."""
        async def find() -> dict[str, Any]:
            while True:
                push = await self.pushes.get()
                if predicate(push):
                    return push
        return await asyncio.wait_for(find(), timeout_s)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await self._reader
