"""``chargelog serve``: run the OCPP central system, the client API and the projections.

Secure by default (DESIGN.md, "Security"): both servers bind 127.0.0.1 unless ``--host`` /
``CHARGELOG_OCPP_HOST`` / ``CHARGELOG_API_HOST`` say otherwise. Binding a non-loopback
address warns when charge points are not authenticated (neither ``basic_auth`` nor TLS) or
the JWT secret is the generated one, and is refused with neither unless ``--insecure``.
On start it prints a banner: the OCPP URL, the client API URLs, the data directory and
where the JWT secret is.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from typing import Any

from chargelog.adapters.config import Settings
from chargelog.adapters.config.secret import jwt_secret, secret_source

from .common import add_log_flags, settings_from
from .main import UserError
from .redact import install_redaction


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the central system (9000), client API (8082) and projections")
    add_log_flags(p)
    p.add_argument("--role", action="append", choices=["gateway", "api", "projections"],
                   help="run only these roles (repeatable; default all three)")
    p.add_argument("--processes", type=int, metavar="N",
                   help="embedded log: 1 keeps one process, 2 runs the translator and projections in a child process, "
                        "each one more is one more OCPP gateway process on the same port (env CHARGELOG_PROCESSES; "
                        "default: the fold's process plus one gateway per core)")
    p.add_argument("--simulate", type=int, metavar="N",
                   help="also start N simulated charge points (they charge only when a user starts them)")
    p.add_argument("--ocpp-port", type=int, help="OCPP WebSocket port (default 9000)")
    p.add_argument("--api-port", type=int, help="client API port (default 8082)")
    p.add_argument("--host", help="bind address for both servers (default 127.0.0.1)")
    p.add_argument("--insecure", action="store_true", default=None,
                   help="allow a non-loopback bind without station authentication and without a configured secret")
    p.add_argument("--registry", help="sites, charge points, id tags, tariffs file to load (TOML/JSON)")
    p.add_argument("--log-level", default="INFO", help="Python log level (default INFO)")
    p.add_argument("--log-format", choices=["text", "json"],
                   help="log lines as text or one JSON object each (env CHARGELOG_LOG_FORMAT; default text)")
    p.set_defaults(func=run)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warnings(settings: Settings) -> list[str]:
    """Warnings for the exposed servers of ``settings``; raises :class:`UserError` when a
    non-loopback bind has neither station authentication nor a configured secret and
    ``settings.insecure`` is off."""
    roles = set(settings.roles)
    exposed = [h for role, h in (("gateway", settings.ocpp_host), ("api", settings.api_host))
               if role in roles and not is_loopback(h)]
    if not exposed:
        return []
    stations_authenticated = settings.basic_auth or settings.tls_cert is not None or "gateway" not in roles
    secret_configured = bool(settings.jwt_secret) or settings.jwt_algorithm == "RS256" or "api" not in roles
    where = ", ".join(sorted(set(exposed)))
    if not stations_authenticated and not secret_configured and not settings.insecure:
        raise UserError(f"refusing to listen on {where} with neither charge point authentication "
                        "(CHARGELOG_BASIC_AUTH=true or CHARGELOG_TLS_CERT) nor a configured CHARGELOG_JWT_SECRET; "
                        "set them, bind 127.0.0.1, or pass --insecure")
    warnings = []
    if not stations_authenticated:
        warnings.append(f"listening on {where} without charge point authentication: any client may connect as "
                        "a charge point without a password (set CHARGELOG_BASIC_AUTH=true)")
    if not secret_configured:
        warnings.append(f"listening on {where} with the generated JWT secret of this data directory; "
                        "set CHARGELOG_JWT_SECRET to share one across processes")
    return warnings


def banner(runtime: Any) -> str:
    """What is running where: OCPP URL, client API URLs, data directory, secret location."""
    s: Settings = runtime.settings
    lines = [f"chargelog {version()} running ({', '.join(s.roles)}; log {s.log})"]
    if runtime.gateway is not None:
        scheme = "wss" if s.tls_cert else "ws"
        lines.append(f"  OCPP 1.6-J:   {scheme}://{_host(s.ocpp_host)}:{runtime.gateway.port}"
                     f"{s.ocpp_path_prefix}/{{chargePointId}}")
    if runtime.api_port is not None:
        base = f"{_host(s.api_host)}:{runtime.api_port}"
        lines += [f"  client API:   http://{base}/health   ws://{base}/ws   ws://{base}/?token=JWT",
                  f"  station map:  chargelog stations --watch 2"]
    children = [c for c in (runtime.fold, *runtime.gateway_children) if c is not None]
    if children:
        others = ", ".join(f"{c.name} {c.pid} ({c.what})" for c in children)
        lines.append(f"  processes:    {os.getpid()} (this one: client API, OCPP gateway), {others}")
    lines.append(f"  data dir:     {s.data_dir.resolve()}")
    lines.append(f"  JWT secret:   {secret_source(s)}  (chargelog token --user NAME signs with it)")
    if s.simulate:
        lines.append(f"  simulated:    {s.simulate} charge points CP001…, charging only when a user starts them")
    return "\n".join(lines)


def _host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host


def version() -> str:
    from .main import package_version

    return package_version()


async def run(args: argparse.Namespace) -> int:
    from chargelog.adapters import child_process
    from chargelog.adapters.runtime import Runtime
    from chargelog.adapters.serve_layout import layout

    if child_process.is_child():  # the fold or a gateway of a serve (ServeChild)
        return await child_process.run_child()

    from chargelog.adapters.logs import configure

    settings = settings_from(
        args, roles=args.role, simulate=args.simulate, ocpp_port=args.ocpp_port, api_port=args.api_port,
        ocpp_host=args.host, api_host=args.host, registry_file=args.registry, insecure=args.insecure,
        log_format=args.log_format, processes=args.processes)
    configure(settings.log_format, args.log_level, role="+".join(settings.roles))

    def say(text: str) -> None:  # JSON logs: every stderr line is a JSON object
        if settings.log_format == "json":
            logging.getLogger("chargelog").warning(text)
        else:
            print(text, file=sys.stderr, flush=True)
    redactor = install_redaction()
    for warning in exposure_warnings(settings):
        say(f"chargelog: warning: {warning}")
    if "api" in settings.roles and settings.jwt_algorithm == "HS256":
        try:
            redactor.literals.append(jwt_secret(settings))  # generated now, before anything listens
        except (OSError, ValueError) as exc:
            raise UserError(f"JWT secret: {exc}") from None
    runtime = Runtime(settings, layout=layout(settings))
    try:
        await runtime.run_until_signal(lambda rt: say(banner(rt)))
    except OSError as exc:
        raise UserError(f"cannot start: {exc}") from None
    except Exception as exc:
        if type(exc).__name__ in {"LogUnavailable", "KafkaConnectionError"}:
            raise UserError(str(exc)) from None
        raise
    return 0
