"""``chargelog stations [--url URL] [--watch]``: print the live station map of a running
server (``GET /api/stations``) as a table, authenticating with a short-lived JWT signed with
the server's secret (``CHARGELOG_JWT_SECRET`` or the data directory's generated one). The
URL defaults to ``http://127.0.0.1:{api_port}`` of the same settings as ``serve``."""

from __future__ import annotations

import argparse
import time
from typing import Any

import httpx

from chargelog.adapters.api.auth import issue_token

from .common import settings_from
from .main import UserError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("stations", help="print the live station map of a running server")
    p.add_argument("--url", help="client API base URL (default http://127.0.0.1:{CHARGELOG_API_PORT or 8082})")
    p.add_argument("--data-dir", help="data directory holding the generated JWT secret (env CHARGELOG_DATA_DIR)")
    p.add_argument("--watch", type=float, metavar="S", help="refresh every S seconds until Ctrl-C")
    p.add_argument("--json", action="store_true", help="print the raw JSON instead of a table")
    p.add_argument("--config", help="settings file, TOML or JSON (env CHARGELOG_CONFIG)")
    p.set_defaults(func=run)


def table(body: dict[str, Any]) -> str:
    """One line per charge point: id, online, mobile status, map colour, X/Y, connectors."""
    lines = [f"{'chargePointId':<16}{'online':<8}{'status':<20}{'map':<13}{'X/Y':<7}connectors"]
    for cp in sorted(body["stations"], key=lambda c: c["chargePointId"]):
        connectors = " ".join(f"{c['connectorId']}:{c['status']}" for c in cp["connectors"])
        lines.append(f"{cp['chargePointId']:<16}{'yes' if cp['online'] else 'no':<8}{cp['status']:<20}"
                     f"{cp['availability']:<13}{cp['available']}/{cp['total']:<5}{connectors}")
    lines.append(f"({len(body['stations'])} charge points, station map at position {body['position']})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    url = (args.url or f"http://127.0.0.1:{settings.api_port}").rstrip("/")
    try:
        token = issue_token(settings, "chargelog-cli", 300.0, ["read:stations"])
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot sign a token: {exc}") from None
    while True:
        try:
            response = httpx.get(f"{url}/api/stations", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        except httpx.HTTPError as exc:
            raise UserError(f"cannot reach {url} ({exc}): is `chargelog serve` running? "
                            "Give --url, or the same CHARGELOG_API_PORT as the server") from None
        if response.status_code == 401:
            raise UserError(f"{url} refused the token: run this with the server's --data-dir / "
                            "CHARGELOG_DATA_DIR or CHARGELOG_JWT_SECRET")
        if response.status_code != 200:
            raise UserError(f"{url} answered {response.status_code}: {response.text[:200]}")
        print(response.text if args.json else table(response.json()), flush=True)
        if not args.watch:
            return 0
        time.sleep(args.watch)
        print()
