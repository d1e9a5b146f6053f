"""Stopping background tasks reliably.

Python 3.11's ``asyncio.wait_for`` can swallow a cancellation that arrives while its inner
future completes (CPython gh-86296, fixed in 3.12), and log subscriptions wait with
``wait_for``: one ``cancel()`` may then be lost and an ``await task`` hang forever.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None, *, retry_s: float = 0.05) -> None:
    """Cancel ``task`` (again every ``retry_s`` s until it is done) and wait for it; its
    exception, if any, is not raised."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=retry_s)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()
