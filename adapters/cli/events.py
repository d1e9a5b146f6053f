"""``chargelog events``: the log as JSON Lines, for analysts and auditors.

Each output line is one event's envelope JSON (domain/envelope.py) with one more field,
``"position"``: the resume token just past it; pass it to ``--from-position`` to continue
after that event. Without ``--follow`` it prints what the log holds when the command starts
and exits; with ``--follow`` it then stays and prints new events as they are appended.

Fast on large logs: it streams the log with ``scan`` and the engines' own filters (the
embedded engine selects types and a charge point in SQLite; Kafka reads only the charge
point's partition and skips other types by record header), decoding one event at a time, and
writes to a buffered stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from datetime import UTC, datetime
from typing import BinaryIO

from chargelog.domain.log import DOMAIN, SOURCE, START, EventLog, InvalidPosition, Position, Record

from .common import add_log_flags, opened_log, settings_from
from .main import UserError

#: Records per ``read`` while catching up.
PAGE = 2000


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "events", help="print the log as JSON Lines (filters, --follow)",
        description="Print events of one stream as JSON Lines: the envelope plus \"position\".")
    add_log_flags(p)
    p.add_argument("--stream", choices=[SOURCE, DOMAIN], default=SOURCE,
                   help="source: what was said (OCPP frames, commands); domain: what it meant (default source)")
    p.add_argument("--charge-point", metavar="ID", help="only events whose chargePointId is ID")
    p.add_argument("--type", dest="types", metavar="T", nargs="+", action="extend", default=[],
                   help="only events of these types (repeatable)")
    p.add_argument("--since", metavar="ISO", help="only events recorded at or after this ISO 8601 time (naive = UTC)")
    p.add_argument("--until", metavar="ISO", help="only events recorded before this ISO 8601 time (exclusive)")
    p.add_argument("--from-position", metavar="P", help="only events after this position (a printed \"position\")")
    p.add_argument("--follow", action="store_true", help="after the existing events, print new ones as they come")
    p.add_argument("--limit", type=int, metavar="N", help="stop after N events")
    p.set_defaults(func=run)


def parse_time(text: str, flag: str) -> datetime:
    """An ISO 8601 timestamp as an aware datetime (naive means UTC); UserError otherwise."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{flag}: not an ISO 8601 time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def line(record: Record) -> bytes:
    """One output line: the envelope JSON with ``"position"`` appended, and a newline."""
    return b"%s,\"position\":\"%s\"}\n" % (record.event.encode()[:-1], str(record.position).encode())


class _Printer:
    """Writes lines to ``out`` and counts them against ``--limit``."""

    def __init__(self, out: BinaryIO, limit: int | None, charge_point: str | None, types: list[str]) -> None:
        self.out, self.left = out, limit
        self.charge_point, self.types = charge_point, set(types)

    @property
    def done(self) -> bool:
        return self.left is not None and self.left <= 0

    def wanted(self, record: Record) -> bool:
        """The filters, for live records (catch-up pages are filtered by the engine)."""
        event = record.event
        return ((self.charge_point is None or event.chargePointId == self.charge_point)
                and (not self.types or event.type in self.types))

    def write(self, record: Record) -> None:
        self.out.write(line(record))
        if self.left is not None:
            self.left -= 1


async def run(args: argparse.Namespace) -> int:
    if args.follow and args.until:
        raise UserError("--follow cannot be combined with --until")
    if args.limit is not None and args.limit < 0:
        raise UserError("--limit must be >= 0")
    if args.limit == 0:
        return 0
    since = parse_time(args.since, "--since") if args.since else None
    until = parse_time(args.until, "--until") if args.until else None
    try:
        after = Position.parse(args.from_position) if args.from_position else START
    except InvalidPosition as exc:
        raise UserError(f"--from-position: {exc}") from None
    try:
        async with opened_log(settings_from(args)) as log:
            printer = _Printer(sys.stdout.buffer, args.limit, args.charge_point, args.types)
            await _print(log, args.stream, after, since, until, args.follow, printer)
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


async def _print(
    log: EventLog, stream: str, after: Position, since: datetime | None, until: datetime | None,
    follow: bool, printer: _Printer,
) -> None:
    """Print what the log holds up to its end (or ``until``) as of now, then maybe follow."""
    if since is not None:
        after = after.merged(await log.position_at(stream, since))
    end = await log.position_at(stream, until) if until is not None else await log.latest(stream)
    scan = log.scan(stream, after, until=end, types=sorted(printer.types), charge_point_id=printer.charge_point)
    async with contextlib.aclosing(scan):
        async for record in scan:
            printer.write(record)
            if printer.done:
                break
        else:
            after = after.merged(end)  # the whole range up to ``end`` has been scanned
    printer.out.flush()
    if not follow or printer.done:
        return
    subscription = log.subscribe(stream, after)
    try:
        async for record in subscription:
            if printer.wanted(record):
                printer.write(record)
                printer.out.flush()
                if printer.done:
                    break
    finally:
        await subscription.aclose()
