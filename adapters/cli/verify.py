"""``chargelog verify``: re-compute the log's hash chains and report the first broken link
(docs/audit.md). Exit 0 when every chain holds, 1 when a link is broken (the first one is
printed with its position, eventId and reason), 2 for a usage error.

``--sign-key KEY --checkpoint-out FILE`` writes a signed checkpoint of the chain heads after a
clean run; ``--checkpoint FILE --public-key KEY.pub`` checks the log still holds those heads;
``--generate-key KEY`` writes a new Ed25519 key pair (KEY, KEY.pub) and exits.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from chargelog.adapters.audit.verify import STREAMS, StreamReport, verify_log

from .common import add_log_flags, opened_log, settings_from
from .events import parse_time
from .main import UserError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "verify", help="check the log's hash chains; exit 1 at a broken link",
        description="Re-compute every charge point's hash chain from the stored events and report the first "
                    "broken link (edited, deleted, duplicated or unchained events).")
    add_log_flags(p)
    p.add_argument("--stream", dest="streams", action="append", choices=list(STREAMS),
                   help="stream to check (repeatable; default all of " + ", ".join(STREAMS) + ")")
    p.add_argument("--charge-point", metavar="ID", help="only the chains of this chargePointId")
    p.add_argument("--since", metavar="ISO", help="start at events recorded at or after this time (the first "
                                                  "link of each chain is then taken as given)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--checkpoint", type=Path, metavar="FILE", help="a signed checkpoint whose heads the log must hold")
    p.add_argument("--public-key", type=Path, metavar="PEM", help="the Ed25519 public key of --checkpoint")
    p.add_argument("--checkpoint-out", type=Path, metavar="FILE", help="after a clean run, write a signed checkpoint")
    p.add_argument("--sign-key", type=Path, metavar="PEM", help="the Ed25519 private key for --checkpoint-out")
    p.add_argument("--generate-key", type=Path, metavar="PEM", help="write a new key pair (PEM, PEM.pub) and exit")
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    # cryptography only for this command
    from chargelog.adapters.audit.checkpoint import CheckpointError, generate_key, read_checkpoint, write_checkpoint
    from chargelog.adapters.gc_tuning import tune_for_bulk_read

    tune_for_bulk_read()

    if args.generate_key:
        public = generate_key(args.generate_key)
        print(json.dumps({"privateKey": str(args.generate_key), "publicKey": str(public)}) if args.format == "json"
              else f"private key: {args.generate_key}\npublic key:  {public}")
        return 0
    if bool(args.checkpoint) != bool(args.public_key):
        raise UserError("--checkpoint and --public-key go together")
    if bool(args.checkpoint_out) != bool(args.sign_key):
        raise UserError("--checkpoint-out and --sign-key go together")
    since = parse_time(args.since, "--since") if args.since else None
    try:
        expected = read_checkpoint(args.checkpoint, args.public_key) if args.checkpoint else None
    except CheckpointError as exc:
        raise UserError(str(exc)) from None
    streams = args.streams or list(STREAMS)
    async with opened_log(settings_from(args)) as log:
        with tqdm(unit=" events", unit_scale=True, desc="verify", file=sys.stderr,
                  disable=not sys.stderr.isatty()) as bar:
            reports = await verify_log(log, streams, charge_point_id=args.charge_point, since=since,
                                       expected=expected, progress=bar.update)
    broken = [b for r in reports for b in r.breaks]
    _print(reports, args.format)
    if args.checkpoint_out and not broken:
        try:
            write_checkpoint(args.checkpoint_out, args.sign_key, {r.stream: (r.position, r.heads) for r in reports})
        except CheckpointError as exc:
            raise UserError(str(exc)) from None
    return 1 if broken else 0


def _print(reports: list[StreamReport], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps({"ok": not any(r.breaks for r in reports), "streams": [
            {"stream": r.stream, "verified": r.verified, "position": r.position, "chains": len(r.heads),
             "breaks": [{"position": b.position, "partition": b.partition, "offset": b.offset,
                         "chargePointId": b.chargePointId, "eventId": b.eventId, "reason": b.reason,
                         "detail": b.detail} for b in r.breaks]} for r in reports]}))
        return
    for r in reports:
        state = "ok" if not r.breaks else f"BROKEN ({len(r.breaks)} broken link{'s' * (len(r.breaks) > 1)})"
        print(f"{r.stream}: {r.verified} events verified in {len(r.heads)} chains up to position {r.position}: {state}")
        if r.breaks:
            first = r.breaks[0]
            print(f"  first broken link: position {first.position} chargePointId {first.chargePointId} "
                  f"eventId {first.eventId}: {first.reason}: {first.detail}")
