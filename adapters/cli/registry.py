"""``chargelog registry``: operator commands on the registries
(docs/registry.md). Every change is a ``registry.*`` event appended to the ``source`` stream;
a command that would change nothing appends nothing.

* ``load FILE``: sites, charge points, id tags, tariffs from TOML/JSON (idempotent);
* ``set-password --charge-point ID [--password P]``: OCPP security profile 1 password;
* ``idtag --id-tag T --user U [--status S] [--expiry ISO] [--parent P]``;
* ``site``, ``chargepoint``, ``tariff``: upsert one record from flags;
* ``show``: the current registry as JSON (password hashes shown as "set");
* ``hash-password``: print a hash for a registry file's ``passwordHash``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import ValidationError

from chargelog.adapters.log import open_log
from chargelog.domain.envelope import Event
from chargelog.domain.log import EventLog, LogUnavailable
from chargelog.domain.registry import (
    ChargePointInfo, IdTag, Registry, Site, Tariff, charge_point_upserted, hash_password,
    id_tag_upserted, password_salt, password_set, site_upserted, tariff_upserted, verify_password,
)

from .common import add_log_flags, settings_from
from .main import UserError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("registry", help="sites, charge points, id tags, tariffs (operator commands)")
    cmds = p.add_subparsers(dest="registry_command", metavar="ACTION", required=True)

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        c = cmds.add_parser(name, help=help_)
        add_log_flags(c)
        return c

    c = command("load", "load a registry file (TOML/JSON); only changes are appended")
    c.add_argument("file")
    c.set_defaults(func=run_load)

    c = command("set-password", "set a charge point's HTTP Basic auth password (stored hashed)")
    c.add_argument("--charge-point", required=True, metavar="ID")
    c.add_argument("--password", help="the password (prompted for when omitted)")
    c.set_defaults(func=run_set_password)

    c = command("idtag", "add or change an id tag")
    c.add_argument("--id-tag", required=True, metavar="T")
    c.add_argument("--user", required=True, metavar="U", help="the owning userId")
    c.add_argument("--status", choices=["Accepted", "Blocked", "Expired", "Invalid"], default="Accepted")
    c.add_argument("--expiry", metavar="ISO", help="expiry date, ISO 8601 (naive = UTC)")
    c.add_argument("--parent", metavar="T", help="parentIdTag")
    c.set_defaults(func=run_idtag)

    c = command("site", "add or change a site (a station: name, address, location)")
    c.add_argument("--site", required=True, metavar="ID")
    c.add_argument("--name")
    c.add_argument("--address")
    c.add_argument("--latitude", type=float)
    c.add_argument("--longitude", type=float)
    c.add_argument("--charge-points", metavar="ID,ID", help="comma-separated chargePointIds")
    c.add_argument("--tariff", metavar="ID")
    c.set_defaults(func=run_site)

    c = command("chargepoint", "add or change a charge point")
    c.add_argument("--charge-point", required=True, metavar="ID")
    c.add_argument("--site", metavar="ID")
    c.add_argument("--name")
    c.add_argument("--connectors", type=int)
    c.add_argument("--maintenance", action=argparse.BooleanOptionalAction, default=None)
    c.add_argument("--tariff", metavar="ID")
    c.set_defaults(func=run_chargepoint)

    c = command("tariff", "add or change a tariff (the id 'default' applies where none is assigned)")
    c.add_argument("--tariff", required=True, metavar="ID")
    c.add_argument("--per-kwh", type=float, help="price per kWh")
    c.add_argument("--per-minute", type=float, help="price per minute")
    c.add_argument("--currency", help="ISO 4217 code, e.g. EUR")
    c.set_defaults(func=run_tariff)

    c = command("show", "print the current registry as JSON")
    c.set_defaults(func=run_show)

    c = cmds.add_parser("hash-password", help="print a passwordHash for a registry file")
    c.add_argument("--password", help="the password (prompted for when omitted)")
    c.set_defaults(func=run_hash_password)


@asynccontextmanager
async def _opened(args: argparse.Namespace) -> AsyncIterator[EventLog]:
    log = open_log(settings_from(args))
    try:
        await log.start()
        yield log
    except (LogUnavailable, OSError) as exc:
        raise UserError(f"cannot open the log: {exc}") from None
    finally:
        await log.close()


def _record(model: type[Any], fields: dict[str, Any]) -> Any:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None


async def _apply(args: argparse.Namespace, build: Any) -> int:
    """Read the registry, build events from it, append those that change it; report."""
    from chargelog.adapters.registry import apply_registry_changes, read_registry

    async with _opened(args) as log:
        current, _ = await read_registry(log)
        events: list[Event] = build(current)
        changed = await apply_registry_changes(log, events, current)
    print(f"{len(changed)} change(s) appended" if changed else "no change", file=sys.stderr)
    return 0


def _password(args: argparse.Namespace) -> str:
    password = args.password if args.password is not None else getpass.getpass("password: ")
    if not password:
        raise UserError("the password must not be empty")
    return password


async def run_load(args: argparse.Namespace) -> int:
    from chargelog.adapters.registry import RegistryFileError, load_registry_file

    def build(current: Registry) -> list[Event]:
        try:
            return load_registry_file(args.file, current)
        except RegistryFileError as exc:
            raise UserError(str(exc)) from None

    return await _apply(args, build)


async def run_set_password(args: argparse.Namespace) -> int:
    password = _password(args)

    def build(current: Registry) -> list[Event]:
        info = current.charge_point(args.charge_point)
        if info is not None and info.passwordHash and verify_password(password, info.passwordHash):
            return [password_set(args.charge_point, hash_password(password, password_salt(info.passwordHash)))]
        return [password_set(args.charge_point, hash_password(password))]

    return await _apply(args, build)


async def run_idtag(args: argparse.Namespace) -> int:
    from .events import parse_time

    expiry = parse_time(args.expiry, "--expiry") if args.expiry else None
    tag = _record(IdTag, {"idTag": args.id_tag, "userId": args.user, "status": args.status,
                          "expiryDate": expiry, "parentIdTag": args.parent})
    return await _apply(args, lambda current: [id_tag_upserted(tag)])


def _merged(old: Any, flags: dict[str, Any]) -> dict[str, Any]:
    base = old.model_dump() if old is not None else {}
    base.update({k: v for k, v in flags.items() if v is not None})
    return base


async def run_site(args: argparse.Namespace) -> int:
    ids = tuple(i.strip() for i in args.charge_points.split(",") if i.strip()) if args.charge_points else None
    flags = {"siteId": args.site, "name": args.name, "address": args.address, "latitude": args.latitude,
             "longitude": args.longitude, "chargePointIds": ids, "tariffId": args.tariff}
    return await _apply(args, lambda cur: [site_upserted(_record(Site, _merged(cur.site(args.site), flags)))])


async def run_chargepoint(args: argparse.Namespace) -> int:
    flags = {"chargePointId": args.charge_point, "siteId": args.site, "name": args.name,
             "connectors": args.connectors, "maintenance": args.maintenance, "tariffId": args.tariff}
    return await _apply(args, lambda cur: [charge_point_upserted(
        _record(ChargePointInfo, _merged(cur.charge_point(args.charge_point), flags)))])


async def run_tariff(args: argparse.Namespace) -> int:
    flags = {"tariffId": args.tariff, "pricePerKwh": args.per_kwh, "pricePerMinute": args.per_minute,
             "currency": args.currency}
    return await _apply(args, lambda cur: [tariff_upserted(_record(Tariff, _merged(cur.tariff(args.tariff), flags)))])


async def run_show(args: argparse.Namespace) -> int:
    from chargelog.adapters.registry import read_registry

    async with _opened(args) as log:
        registry, _ = await read_registry(log)
    try:
        sys.stdout.write(json.dumps(registry.to_json(), indent=2) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into head
        sys.stdout = None  # type: ignore[assignment]
    return 0


def run_hash_password(args: argparse.Namespace) -> int:
    print(hash_password(_password(args)))
    return 0
