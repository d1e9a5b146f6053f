"""``chargelog simulate``: an OCPP 1.6-J charge point fleet against a central system
(adapters/simulator/). It boots every station (with a progress bar), then runs until
Ctrl-C / SIGTERM (or ``--duration`` s) and prints a one-line summary."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from urllib.parse import urlsplit

from tqdm import tqdm

from .main import UserError
from .redact import install_redaction


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("simulate", help="run simulated OCPP 1.6 charge points against a central system",
                       description="Simulated OCPP 1.6-J charge points {prefix}{n:03d} connecting to {url}/{id}.")
    p.add_argument("--url", required=True, help="central system URL, e.g. ws://127.0.0.1:9000/ocpp")
    p.add_argument("--stations", type=int, required=True, metavar="N", help="number of charge points")
    p.add_argument("--connectors", type=int, default=2, metavar="K", help="connectors per charge point (default 2)")
    p.add_argument("--prefix", default="CP", help="chargePointId prefix (default CP: CP001, CP002, …)")
    p.add_argument("--auto-transactions", action="store_true",
                   help="start and stop transactions on their own (idTag from --id-tag)")
    p.add_argument("--meter-interval", type=float, default=10.0, metavar="S",
                   help="MeterValues interval during transactions, s (default 10)")
    p.add_argument("--password", help="HTTP Basic auth password (OCPP security profile 1; user = chargePointId)")
    p.add_argument("--id-tag", default="SIMTAG", help="idTag for auto transactions (default SIMTAG)")
    p.add_argument("--seed", type=int, help="random seed (reproducible vehicles and timings)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
    p.add_argument("--log-level", default="WARNING", help="Python log level (default WARNING)")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    url = urlsplit(args.url)
    if url.scheme not in {"ws", "wss"} or not url.hostname:
        raise UserError(f"--url must be ws://HOST:PORT/PATH or wss://…, not {args.url!r}")
    if args.stations < 1:
        raise UserError("--stations must be at least 1")
    if args.connectors < 1:
        raise UserError("--connectors must be at least 1")
    if args.meter_interval <= 0:
        raise UserError("--meter-interval must be more than 0 s")
    if args.duration is not None and args.duration < 0:
        raise UserError("--duration must not be negative")


async def run(args: argparse.Namespace) -> int:
    from chargelog.adapters.simulator import Fleet, StationConnectError

    _check(args)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_redaction([args.password or ""])
    fleet = Fleet(args.url, args.stations, connectors=args.connectors, prefix=args.prefix,
                  auto_transactions=args.auto_transactions, meter_interval_s=args.meter_interval,
                  password=args.password, id_tag=args.id_tag, seed=args.seed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bar = tqdm(total=args.stations, desc="booting", unit="station", file=sys.stderr,
               disable=None, leave=False)
    try:
        starting = asyncio.create_task(fleet.start(progress=lambda done, _: bar.update(1)))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            await fleet.stop()
            return 130
        stopped.cancel()
        starting.result()
    except StationConnectError as exc:
        raise UserError(str(exc)) from None
    finally:
        bar.close()
    print(f"{args.stations} charge points connected to {args.url}; Ctrl-C to stop", file=sys.stderr, flush=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), args.duration)
    await fleet.stop()
    started = sum(c.started for s in fleet.stations for c in s.connectors.values())
    ended = sum(c.stopped for s in fleet.stations for c in s.connectors.values())
    print(f"stopped: {started} transactions started, {ended} stopped", file=sys.stderr)
    return 0
