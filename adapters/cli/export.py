"""``chargelog export --format parquet|csv|jsonl --out PATH``: one stream's events as flat,
typed rows for analysts (docs/analytics.md; columns: :mod:`chargelog.domain.flatten`), with
``--stream``, ``--since``/``--until``, ``--charge-point`` and ``--type`` filters, a progress
bar on a terminal, bounded memory, and incremental runs: exporting again to the same PATH
adds only what was appended since (the position is kept in the output). Prints one JSON line:
``{"rows", "scanned", "position", "out"}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from chargelog.domain.log import DOMAIN, SOURCE

from .common import add_log_flags, opened_log, settings_from
from .events import parse_time
from .main import UserError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("export", help="export events as Parquet, CSV or JSON Lines for analysts",
                              description="Export one stream as flat typed rows; again to the same --out resumes.")
    add_log_flags(p)
    p.add_argument("--format", choices=("parquet", "csv", "jsonl"), default="parquet")
    p.add_argument("--out", type=Path, required=True, metavar="PATH", help="the output file (resumed if it exists)")
    p.add_argument("--stream", choices=[SOURCE, DOMAIN], default=DOMAIN, help="default domain")
    p.add_argument("--charge-point", metavar="ID", help="only events of this chargePointId")
    p.add_argument("--type", dest="types", metavar="T", nargs="+", action="extend", default=[],
                   help="only events of these types (repeatable)")
    p.add_argument("--since", metavar="ISO", help="only events recorded at or after this time (naive = UTC)")
    p.add_argument("--until", metavar="ISO", help="only events recorded before this time (exclusive)")
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    # pyarrow (and the pandas it loads) only for this command, not every chargelog start-up
    from chargelog.adapters.audit.export import ExportMismatch, export
    from chargelog.adapters.gc_tuning import tune_for_bulk_read

    tune_for_bulk_read()

    since = parse_time(args.since, "--since") if args.since else None
    until = parse_time(args.until, "--until") if args.until else None
    async with opened_log(settings_from(args)) as log:
        with tqdm(unit=" events", unit_scale=True, desc=f"export {args.stream}", file=sys.stderr,
                  disable=not sys.stderr.isatty()) as bar:
            def total(n: int) -> None:
                bar.total = n
                bar.refresh()

            try:
                result = await export(log, args.stream, args.format, args.out, since=since, until=until,
                                      charge_point_id=args.charge_point, types=args.types,
                                      progress=bar.update, total=total)
            except ExportMismatch as exc:
                raise UserError(str(exc)) from None
    print(json.dumps({"rows": result.rows, "scanned": result.scanned, "position": str(result.position),
                      "out": str(args.out)}))
    return 0
