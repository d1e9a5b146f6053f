"""Export memory benchmark: ``chargelog export`` (Parquet) and ``chargelog verify`` on embedded
logs of growing size, run as the CLI an analyst runs, under ``/usr/bin/time -v``: maximum
resident set size, wall and CPU time, events/s — to show that memory stays flat (bounded by a
row group and the libraries, not by the log's size). The floor is a raw scan of the same log
(``scan_raw``, nothing else) in a process of its own, under the same ``/usr/bin/time``.
docs/benchmarks.md, "Audit: export, verify, hash chain".

Usage (from the repository root)::

    python bench/export_memory_bench.py [--sizes 1000000,10000000] [--workdir /tmp/audit-mem] [--keep]

Each log is built with ``bench/bulk_log.py`` (sealed source events of a simulated day, repeated)
into ``WORKDIR/events-N`` unless that directory already holds a log of N events, and is deleted
with its Parquet file after its runs unless ``--keep`` (a 10-million-event log takes ~9 GB).
Prints a markdown table with the load averages (1 min) before and after each run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout: the repository's chargelog package
sys.path.insert(0, str(HERE))

TIME = "/usr/bin/time"


@dataclass
class Run:
    events: int
    step: str
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    load_before: float
    load_after: float

    @property
    def rate(self) -> float:
        return self.events / self.wall_s

    @property
    def cpu_rate(self) -> float:
        return self.events / self.cpu_s


def _seconds(text: str) -> float:
    """``/usr/bin/time -v``'s elapsed time ``[h:]m:ss.ss`` in seconds."""
    total = 0.0
    for part in text.split(":"):
        total = total * 60 + float(part)
    return total


def timed(events: int, step: str, command: list[str]) -> Run:
    """Run ``command`` under ``/usr/bin/time -v``; raises CalledProcessError when it fails."""
    load = os.getloadavg()[0]
    done = subprocess.run([TIME, "-v", *command], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr)

    def field(name: str) -> str:
        found = re.search(rf"^\s*{re.escape(name)}: (.+)$", done.stderr, re.MULTILINE)
        assert found, done.stderr[-2000:]
        return found.group(1).strip()

    run = Run(events, step, _seconds(field("Elapsed (wall clock) time (h:mm:ss or m:ss)")),
              float(field("User time (seconds)")) + float(field("System time (seconds)")),
              int(field("Maximum resident set size (kbytes)")) / 1024, load, os.getloadavg()[0])
    print(f"  {events:>11,} {step:16} {run.rate:>9,.0f} events/s  {run.cpu_rate:>9,.0f} events/CPU-s  "
          f"max RSS {run.max_rss_mb:6.0f} MB  ({run.wall_s:.1f} s, load {run.load_before:.1f}→{run.load_after:.1f})",
          flush=True)
    return run


def count(data_dir: Path) -> int:
    path = data_dir / "log" / "source.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT max(rowid) FROM events").fetchone()[0] or 0


async def scan_only(data_dir: Path) -> None:
    """The floor, in this process: every stored record of the source stream, nothing else."""
    from chargelog.adapters.gc_tuning import tune_for_bulk_read
    from chargelog.adapters.log.embedded import EmbeddedLog

    tune_for_bulk_read()
    log = EmbeddedLog(data_dir)
    await log.start()
    seen = 0
    async for batch in log.scan_raw("source"):
        seen += len(batch)
    await log.close()
    print(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/audit-mem"))
    parser.add_argument("--keep", action="store_true", help="keep the logs and Parquet files")
    parser.add_argument("--steps", default="scan,export,verify", help="of scan (the floor), export, verify")
    parser.add_argument("--scan-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scan_only:
        asyncio.run(scan_only(args.scan_only))
        return
    from bulk_log import build

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs", flush=True)
    runs: list[Run] = []
    for size in (int(s) for s in args.sizes.split(",")):
        data_dir = args.workdir / f"events-{size}"
        out = args.workdir / f"events-{size}.parquet"
        if count(data_dir) != size:
            shutil.rmtree(data_dir, ignore_errors=True)
            began = time.perf_counter()
            build(data_dir, size)
            print(f"  built {size:,} events in {time.perf_counter() - began:.0f} s", flush=True)
        cli = [sys.executable, "-m", "chargelog"]
        where = ["--log", "embedded", "--data-dir", str(data_dir)]
        steps = args.steps.split(",")
        try:
            runs.append(timed(size, "raw scan (floor)", [sys.executable, __file__, "--scan-only", str(data_dir)]))
            if "export" in steps:
                out.unlink(missing_ok=True)
                runs.append(timed(size, "export parquet", [*cli, "export", *where, "--stream", "source", "--format",
                                                           "parquet", "--out", str(out)]))
                print(f"  parquet: {out.stat().st_size / 1e6:,.0f} MB", flush=True)
            if "verify" in steps:
                runs.append(timed(size, "verify", [*cli, "verify", *where, "--stream", "source", "--format", "json"]))
        finally:
            if not args.keep:
                out.unlink(missing_ok=True)
                shutil.rmtree(data_dir, ignore_errors=True)
    print()
    print("| events | step | events/s (wall) | events/CPU-s | vs floor (wall) | max RSS MB | wall s | load (1 min) |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for run in runs:
        floor = next(r for r in runs if r.events == run.events and r.step == "raw scan (floor)")
        print(f"| {run.events:,} | {run.step} | {run.rate:,.0f} | {run.cpu_rate:,.0f} | {run.rate / floor.rate:.2f} "
              f"| {run.max_rss_mb:,.0f} | {run.wall_s:.1f} | {run.load_before:.1f} → {run.load_after:.1f} |")


if __name__ == "__main__":
    main()
