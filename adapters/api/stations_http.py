"""``GET /api/stations``: the live station map over HTTP ("a URL … that prints the
live station map"). Any authenticated caller with ``read:stations`` (Bearer JWT or API key).

Response ``200``: ``{"sites": [SiteView…], "stations": [ChargePointView…], "position": str}``
with the views of ``chargelog.projections.views`` (docs/contracts.md) and the station-map
projection's position; ``401`` without credentials, ``403`` without the scope.
"""

from __future__ import annotations

from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from chargelog.adapters.config import Settings
from chargelog.projections.views import ChargePointView, SiteView

from .caller import CoreError
from .core import ClientCore
from .openapi import Endpoint


def station_routes(core: ClientCore, _settings: Settings) -> list[BaseRoute]:
    from .app import authenticate_http

    async def stations(request: Request) -> JSONResponse:
        caller = await authenticate_http(core, request)
        try:
            charge_points = await core.stations(caller)
            sites = await core.sites(caller)
        except CoreError as exc:
            raise HTTPException(403 if exc.kind == "forbidden" else 400, exc.message) from None
        positions = await core.read_models.positions()
        body = StationMap(sites=sites, stations=charge_points, position=str(positions.get("stations", "")))
        return JSONResponse(body.model_dump(mode="json"))

    return [Route("/api/stations", stations, methods=["GET"])]


class StationMap(BaseModel):
    """``GET /api/stations`` 200: the sites and charge points of the station map, and the
    station-map projection's position."""

    sites: list[SiteView]
    stations: list[ChargePointView]
    position: str


OPENAPI_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("get", "/api/stations", "The live station map (needs read:stations).",
             {200: StationMap, 401: None, 403: None}, security=[{"bearerJwt": []}, {"apiKey": []}],
             tags=("stations",)),
)
