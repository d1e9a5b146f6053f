"""``chargelog audit transaction ID | command CORRELATION_ID | charge-point ID [--since T]
[--until T]``: one timeline, in log order, of every related event of both streams — the
command, the CALL sent, the station's frames with their raw text, the derived domain events,
anomalies and connection events — each with its times, position, principal and the link that
relates it (docs/audit.md). A table (``rich``) or ``--format json`` (one object: ``subject``,
``chargePointId``, ``entries`` as in :mod:`chargelog.adapters.audit.timeline`). Exit 1 when
the log does not know the transaction or command.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from chargelog.adapters.audit.timeline import (
    Timeline, charge_point_range, command_timeline, entry_json, transaction_timeline,
)

from .common import add_log_flags, opened_log, settings_from
from .events import parse_time
from .main import UserError

if TYPE_CHECKING:
    from rich.table import Table


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("audit", help="a transaction's, command's or charge point's whole story",
                              description="One timeline of related events across the source and domain streams.")
    kinds = p.add_subparsers(dest="subject", metavar="SUBJECT", required=True)
    for name, metavar, text in (("transaction", "ID", "an OCPP transactionId"),
                                ("command", "CORRELATION_ID", "a command's correlationId"),
                                ("charge-point", "ID", "a chargePointId (with --since/--until)")):
        k = kinds.add_parser(name, help=f"the timeline of {text}")
        add_log_flags(k)
        k.add_argument("id", metavar=metavar)
        k.add_argument("--format", choices=["table", "json"], default="table")
        if name == "charge-point":
            k.add_argument("--since", metavar="ISO", help="from this recorded time (naive = UTC)")
            k.add_argument("--until", metavar="ISO", help="before this recorded time (exclusive)")
        k.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    async with opened_log(settings_from(args)) as log:
        if args.subject == "transaction":
            try:
                transaction_id = int(args.id)
            except ValueError:
                raise UserError(f"a transactionId is an integer, not {args.id!r}") from None
            timeline = await transaction_timeline(log, transaction_id)
        elif args.subject == "command":
            timeline = await command_timeline(log, args.id)
        else:
            since = parse_time(args.since, "--since") if args.since else None
            until = parse_time(args.until, "--until") if args.until else None
            timeline = await charge_point_range(log, args.id, since, until)
    if timeline is None:
        print(f"chargelog: the log has no {args.subject} {args.id}", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps({"subject": timeline.subject, "chargePointId": timeline.chargePointId,
                          "entries": [entry_json(e) for e in timeline.entries]}))
    else:
        from rich.console import Console

        # a terminal's width; 240 columns into a file or pipe (rich would fold to 80)
        Console(width=None if sys.stdout.isatty() else 240).print(table(timeline))
    return 0


def table(timeline: Timeline) -> Table:
    """The timeline as a rich table: time, where, what, who, link, raw frame text."""
    from rich.table import Table

    t = Table(title=f"{timeline.subject} — {timeline.chargePointId} — {len(timeline.entries)} events",
              show_lines=False, expand=True)
    for column in ("recorded at (occurred at)", "stream@position", "event", "principal", "link", "raw / detail"):
        t.add_column(column, overflow="fold")
    for entry in timeline.entries:
        row = entry_json(entry)
        when = row["recordedAt"]
        if row["occurredAt"] != row["recordedAt"]:
            when += f"\n({row['occurredAt']})"
        principal = f"{row['principal']['kind']}:{row['principal']['id']}" if row["principal"] else ""
        detail = row["raw"] or json.dumps(row["payload"], separators=(",", ":"))[:200]
        t.add_row(when, f"{row['stream']}@{row['position']}", entry.summary, principal,
                  f"{entry.link} {entry.via}", detail)
    return t
