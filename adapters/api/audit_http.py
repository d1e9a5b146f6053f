"""The audit timelines over HTTP for auditors (docs/audit.md), scope ``audit`` (or ``admin``),
Bearer JWT or API key:

* ``GET /api/audit/transactions/{transactionId}``
* ``GET /api/audit/commands/{correlationId}``
* ``GET /api/audit/charge-points/{chargePointId}?since=ISO&until=ISO``

Each takes ``limit`` (1..1000, default 100) and ``cursor`` (from ``next``) and answers ``200``
``{"subject", "chargePointId", "total", "entries": [entry…], "next": cursor | null}`` with the
entries of :mod:`chargelog.adapters.audit.timeline`; ``400`` for a bad parameter, ``401``
without credentials, ``403`` without the scope, ``404`` for a transaction or command the log
does not know.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from pydantic import BaseModel

from chargelog.adapters.audit.timeline import (
    AuditEntry, Timeline, charge_point_range, command_timeline, entry_json, transaction_timeline,
)
from chargelog.adapters.config import Settings

from .caller import AUDIT
from .core import ClientCore
from .openapi import Endpoint, ErrorMessage

#: Largest page.
MAX_LIMIT = 1000


class AuditPage(BaseModel):
    """A page of an audit timeline: ``total`` entries in all, these ``entries`` (log order),
    and the ``next`` cursor (null on the last page)."""

    subject: str
    chargePointId: str
    total: int
    entries: list[AuditEntry]
    next: str | None


_AUTH = [{"bearerJwt": []}, {"apiKey": []}]
_ANSWERS: dict[int, type[BaseModel] | None] = {200: AuditPage, 400: ErrorMessage, 401: ErrorMessage,
                                               403: ErrorMessage, 404: ErrorMessage}
OPENAPI_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("get", "/api/audit/transactions/{transactionId}",
             "A transaction's timeline across both streams (scope audit; ?limit, ?cursor).", _ANSWERS,
             security=_AUTH, tags=("audit",)),
    Endpoint("get", "/api/audit/commands/{correlationId}",
             "A command's timeline: request, CALL, answer, outcome (scope audit; ?limit, ?cursor).", _ANSWERS,
             security=_AUTH, tags=("audit",)),
    Endpoint("get", "/api/audit/charge-points/{chargePointId}",
             "A charge point's events recorded in [?since, ?until) (scope audit; ?limit, ?cursor).",
             {k: v for k, v in _ANSWERS.items() if k != 404}, security=_AUTH, tags=("audit",)),
)


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    try:
        value = default if text is None else int(text)
    except ValueError:
        raise HTTPException(400, f"{name} must be an integer") from None
    if not low <= value <= high:
        raise HTTPException(400, f"{name} must be between {low} and {high}")
    return value


def _time(request: Request, name: str) -> datetime | None:
    text = request.query_params.get(name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(400, f"{name} must be an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _page(request: Request, timeline: Timeline | None, what: str) -> JSONResponse:
    if timeline is None:
        raise HTTPException(404, f"the log has no {what}")
    limit = _int(request, "limit", 100, 1, MAX_LIMIT)
    cursor = _int(request, "cursor", 0, 0, 2**62)
    entries = timeline.entries[cursor:cursor + limit]
    more = cursor + limit < len(timeline.entries)
    return JSONResponse({"subject": timeline.subject, "chargePointId": timeline.chargePointId,
                         "total": len(timeline.entries), "entries": [entry_json(e) for e in entries],
                         "next": str(cursor + limit) if more else None})


def audit_routes(core: ClientCore, _settings: Settings) -> list[BaseRoute]:
    from .app import authenticate_http

    async def authorize(request: Request) -> None:
        caller = await authenticate_http(core, request)
        if not caller.has(AUDIT):
            raise HTTPException(403, f"scope {AUDIT} required")

    async def transaction(request: Request) -> JSONResponse:
        await authorize(request)
        text = request.path_params["transactionId"]
        try:
            transaction_id = int(text)
        except ValueError:
            raise HTTPException(400, "transactionId must be an integer") from None
        return _page(request, await transaction_timeline(core.log, transaction_id), f"transaction {text}")

    async def command(request: Request) -> JSONResponse:
        await authorize(request)
        correlation_id = request.path_params["correlationId"]
        return _page(request, await command_timeline(core.log, correlation_id), f"command {correlation_id}")

    async def charge_point(request: Request) -> JSONResponse:
        await authorize(request)
        timeline = await charge_point_range(core.log, request.path_params["chargePointId"],
                                            _time(request, "since"), _time(request, "until"))
        return _page(request, timeline, "charge point")

    return [Route("/api/audit/transactions/{transactionId}", transaction, methods=["GET"]),
            Route("/api/audit/commands/{correlationId}", command, methods=["GET"]),
            Route("/api/audit/charge-points/{chargePointId}", charge_point, methods=["GET"])]
