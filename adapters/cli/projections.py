"""``chargelog projections``: rebuild read models from position zero, show how far each
projection (and the translator) has got and what it quarantined, and retry quarantined records.

``rebuild [NAME]`` forgets the projection's rows and position in the read-model store
(SQLite under ``--data-dir``, or PostgreSQL with ``CHARGELOG_READMODEL_DSN``) and folds its
whole stream again (``domain``; ``source`` for ``profile_state``), with a progress bar; without NAME it rebuilds every projection.
Stop the projection workers first. ``status`` prints one line per fold: name, stream, stored
position, lag (records of the stream not yet folded) and how many records it quarantined,
then one line per quarantined record (consumer, position ``partition-offset``, event type,
eventId, error); exit code 0 either way. ``retry [NAME]`` re-applies the quarantined records
of one fold (default: every fold) after a fix (:mod:`chargelog.projections.retry`; workers
stopped) and prints per fold how many were released, remain, or are gone from the log.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import AsyncIterator

from tqdm import tqdm

from chargelog.adapters.log import open_log
from chargelog.adapters.store import open_store
from chargelog.domain.log import DOMAIN, SOURCE, EventLog, LogUnavailable, Position
from chargelog.projections.base import quarantine_name
from chargelog.projections.rebuild import rebuild
from chargelog.projections.retry import fold_for_retry, retry
from chargelog.projections.runner import PROJECTION_NAMES, read_model_folds
from chargelog.projections.store import ReadModelStore

from .common import add_log_flags, settings_from
from .main import UserError

FOLD_NAMES = ("translator", *PROJECTION_NAMES)
#: The stream each fold reads.
FOLD_STREAMS = {"translator": SOURCE, **{f.name: f.stream for f in read_model_folds()}}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("projections", help="rebuild read models; show projection positions",
                              description="Rebuild read models from the log, or show their positions.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    r = sub.add_parser("rebuild", help="rebuild a projection (default: all) from position zero")
    r.add_argument("name", nargs="?", choices=PROJECTION_NAMES, metavar="NAME",
                   help=f"one of {', '.join(PROJECTION_NAMES)} (default: all)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_log_flags(r)
    r.set_defaults(func=run_rebuild)
    s = sub.add_parser("status", help="positions, lag and quarantined records of every projection and the translator")
    add_log_flags(s)
    s.set_defaults(func=run_status)
    t = sub.add_parser("retry", help="re-apply quarantined records after a fix (stop the workers first)")
    t.add_argument("name", nargs="?", choices=FOLD_NAMES, metavar="NAME",
                   help=f"one of {', '.join(FOLD_NAMES)} (default: all)")
    add_log_flags(t)
    t.set_defaults(func=run_retry)


@contextlib.asynccontextmanager
async def opened(args: argparse.Namespace) -> AsyncIterator[tuple[EventLog, ReadModelStore]]:
    """The log (started) and the read-model store the flags name, closed afterwards; an
    unreachable log becomes a one-line :class:`UserError`."""
    settings = settings_from(args)
    log = open_log(settings)
    store = open_store(settings)
    try:
        await log.start()
        yield log, store
    except LogUnavailable as exc:
        raise UserError(str(exc)) from None
    finally:
        store.close()
        with contextlib.suppress(Exception):
            await log.close()


async def run_rebuild(args: argparse.Namespace) -> int:
    async with opened(args) as (log, store):
        for name in [args.name] if args.name else PROJECTION_NAMES:
            with tqdm(desc=name, unit=" events", unit_scale=True, file=sys.stderr,
                      disable=args.no_progress) as bar:

                def progress(done: int, end: int, bar: tqdm = bar) -> None:  # type: ignore[type-arg]
                    bar.total = end
                    bar.update(done - bar.n)

                count = await rebuild(log, store, name, progress)
            print(f"{name}: rebuilt from {count} events, position {Position(store.positions().get(name, {}))}")
    return 0


async def run_status(args: argparse.Namespace) -> int:
    async with opened(args) as (log, store):
        latest = {DOMAIN: await log.latest(DOMAIN), SOURCE: await log.latest(SOURCE)}
        stored = store.positions()
        quarantined = []
        print(f"{'NAME':<18} {'STREAM':<7} {'POSITION':<24} {'LAG':>8} QUARANTINED")
        for name in FOLD_NAMES:
            stream = FOLD_STREAMS[name]
            position = Position(stored.get(name, {}))
            lag = sum(max(o - position.get(p), 0) for p, o in latest[stream].offsets.items())
            entries = [json.loads(value) for _, _, value in sorted(store.load(quarantine_name(name))[1])]
            quarantined += entries
            print(f"{name:<18} {stream:<7} {str(position):<24} {lag:>8} {len(entries)}")
        for entry in quarantined:
            print(f"quarantined: {entry['consumer']} at {entry['stream']} {entry['position']} "
                  f"{entry['type']} {entry['eventId']} ({entry.get('chargePointId')}): {entry['error']}")
    return 0


async def run_retry(args: argparse.Namespace) -> int:
    from chargelog.adapters.registry import LiveRegistry
    from chargelog.domain.translate import RegistryDirectory

    async with opened(args) as (log, store):
        registry = LiveRegistry(log)
        await registry.start()
        try:
            for name in [args.name] if args.name else FOLD_NAMES:
                fold = fold_for_retry(name, RegistryDirectory(lambda: registry.current))
                result = await retry(log, store, fold)
                print(f"{name}: {result.released} released, {result.remaining} still quarantined, "
                      f"{result.missing} no longer on the log")
        finally:
            await registry.stop()
    return 0
