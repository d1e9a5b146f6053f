"""``chargelog serve``: run the OCPP central system, the client API and the projections."""

from __future__ import annotations

import argparse

from .common import add_log_flags, settings_from
from .main import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the central system (9000), client API (8082) and projections")
    add_log_flags(p)
    p.add_argument("--role", action="append", choices=["gateway", "api", "projections"],
                   help="run only these roles (repeatable; default all three)")
    p.add_argument("--simulate", type=int, metavar="N", help="also start N simulated charge points")
    p.add_argument("--ocpp-port", type=int, help="OCPP WebSocket port (default 9000)")
    p.add_argument("--api-port", type=int, help="client API port (default 8082)")
    p.add_argument("--host", help="bind address for both servers (default 0.0.0.0)")
    p.add_argument("--registry", help="sites, charge points, id tags, tariffs file to load (TOML/JSON)")
    p.add_argument("--log-level", default="INFO", help="Python log level (default INFO)")
    p.add_argument("--log-format", choices=["text", "json"],
                   help="log lines as text or one JSON object each (env CHARGELOG_LOG_FORMAT; default text)")
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    from chargelog.adapters.runtime import Runtime

    from chargelog.adapters.logs import configure

    settings = settings_from(
        args, roles=args.role, simulate=args.simulate, ocpp_port=args.ocpp_port, api_port=args.api_port,
        ocpp_host=args.host, api_host=args.host, registry_file=args.registry, log_format=args.log_format)
    configure(settings.log_format, args.log_level, role="+".join(settings.roles))
    runtime = Runtime(settings)
    try:
        await runtime.run_until_signal()
    except OSError as exc:
        raise UserError(f"cannot start: {exc}") from None
    except Exception as exc:
        if type(exc).__name__ in {"LogUnavailable", "KafkaConnectionError"}:
            raise UserError(str(exc)) from None
        raise
    return 0
