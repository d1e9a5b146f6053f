"""``chargelog token --user U [--ttl 1h] [--scopes …]``: print a client API JWT
(mobile-websocket-api.md section 2). HS256 with ``CHARGELOG_JWT_SECRET``, else the secret that ``serve``
generates in the data directory (``{data_dir}/jwt-secret``, created here if missing), or RS256 with
``--private-key PEM`` when ``jwt_algorithm`` is RS256. The token goes to stdout only."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from chargelog.adapters.api.auth import issue_token, parse_scopes

from .common import settings_from
from .main import UserError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> float:
    """``"90"``, ``"90s"``, ``"15m"``, ``"1h"``, ``"7d"`` → seconds (> 0). Raises UserError."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match or float(match[1]) <= 0:
        raise UserError(f"--ttl must be a positive duration like 90s, 15m, 1h or 7d, not {text!r}")
    return float(match[1]) * _UNITS[match[2] or "s"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("token", help="print a JWT for the client API",
                              description="Print a signed JWT with the userId claim (HS256 or RS256).")
    p.add_argument("--user", required=True, help="the userId claim")
    p.add_argument("--ttl", default="1h", help="validity: 90s, 15m, 1h (default), 7d")
    p.add_argument("--scopes", help="comma-separated: read:stations, write:charging, admin, audit "
                                    "(default: no claim = read:stations,write:charging)")
    p.add_argument("--private-key", help="RS256 private key (PEM file) when jwt_algorithm is RS256")
    p.add_argument("--config", help="settings file, TOML or JSON (env CHARGELOG_CONFIG)")
    p.add_argument("--data-dir", help="data directory holding the generated secret (env CHARGELOG_DATA_DIR; "
                                      "default ./.chargelog)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    try:
        scopes = sorted(parse_scopes(args.scopes)) if args.scopes else None
        private_key = Path(args.private_key).read_text() if args.private_key else None
        token = issue_token(settings, args.user, parse_ttl(args.ttl), scopes, private_key=private_key)
    except (ValueError, OSError) as exc:
        raise UserError(str(exc)) from None
    print(token)
    return 0
