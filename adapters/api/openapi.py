"""The OpenAPI 3.1 document of the client API's HTTP endpoints, generated
from pydantic models. Other modules add their endpoints as :class:`Endpoint` values (passed
to :func:`openapi_document`, or listed by :func:`chargelog.adapters.api.app.create_app`'s
``extra_endpoints``). ``python -m chargelog.adapters.api.openapi`` prints it (checked in as
docs/openapi.json)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

REF = "#/components/schemas/{model}"


class LogHealth(BaseModel):
    """The log engine: ``engine`` ("embedded" or "kafka"), ``ok``, and the end position of
    each stream (``{"domain": "0-12", "source": "…"}``), or ``error``."""

    engine: str
    ok: bool
    positions: dict[str, str] = {}
    error: str | None = None


class Health(BaseModel):
    """``GET /health``: ``status`` "ok" (HTTP 200) or "degraded" (HTTP 503: the log is
    unreachable, the API's tail of the domain stream stopped, or a fold of this process
    quarantined a record: ``quarantined`` lists them, ``degraded`` says why in words)."""

    status: str = Field(examples=["ok"])
    log: LogHealth
    projections: dict[str, str] = Field(default_factory=dict, description="Position per projection.")
    api: dict[str, Any] = Field(default_factory=dict, description="hubPosition, hubRunning, connections.")
    gateway: dict[str, Any] | None = None
    quarantined: list[dict[str, Any]] | None = Field(
        None, description="Records a fold quarantined: consumer, stream, partition, offset, position, eventId, "
                          "type, chargePointId, error.")
    degraded: list[str] | None = Field(None, description="Why the status is degraded, one line per cause.")


class ErrorMessage(BaseModel):
    """An HTTP error body."""

    error: str
    message: str


@dataclass(frozen=True)
class Endpoint:
    """One HTTP operation for the document: ``responses`` maps a status code to a pydantic
    model (or None for no body)."""

    method: str
    path: str
    summary: str
    responses: dict[int, type[BaseModel] | None]
    request: type[BaseModel] | None = None
    security: list[dict[str, list[str]]] = field(default_factory=list)
    tags: tuple[str, ...] = ()


CORE_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("get", "/health", "Liveness, the log engine's state and the projections' positions.",
             {200: Health, 503: Health}, tags=("operations",)),
    Endpoint("get", "/openapi.json", "This document.", {200: None}, tags=("docs",)),
    Endpoint("get", "/asyncapi.json", "The AsyncAPI document of the WebSocket dialects at /ws.", {200: None},
             tags=("docs",)),
)


def openapi_document(endpoints: Iterable[Endpoint] = ()) -> dict[str, Any]:
    """The document for :data:`CORE_ENDPOINTS` plus ``endpoints``."""
    all_endpoints = [*CORE_ENDPOINTS, *endpoints]
    models: list[type[BaseModel]] = []
    for e in all_endpoints:
        models.extend(m for m in (e.request, *e.responses.values()) if m is not None)
    _, top = models_json_schema([(m, "validation") for m in dict.fromkeys(models)], ref_template=REF)
    paths: dict[str, Any] = {}
    for e in all_endpoints:
        op: dict[str, Any] = {"summary": e.summary, "responses": {}}
        path_params = re.findall(r"{(\w+)}", e.path)
        if path_params:
            op["parameters"] = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                                for name in path_params]
        if e.tags:
            op["tags"] = list(e.tags)
        if e.security:
            op["security"] = e.security
        if e.request is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": REF.format(model=e.request.__name__)}}}}
        for status, model in e.responses.items():
            response: dict[str, Any] = {"description": str(status)}
            if model is not None:
                response["content"] = {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}}
            op["responses"][str(status)] = response
        paths.setdefault(e.path, {})[e.method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "chargelog client API (HTTP)", "version": "0.1.0",
                 "description": "HTTP side of the client API; the WebSocket dialects are in /asyncapi.json."},
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {
                "bearerJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def main() -> None:
    from .app import known_endpoints

    print(json.dumps(openapi_document(known_endpoints()), indent=2))


if __name__ == "__main__":
    main()
