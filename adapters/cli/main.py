"""The ``chargelog`` command: one sub-command per module in this package.

Each sub-command module exposes ``register(subparsers)`` which adds its parser and sets
``func`` (a callable taking the parsed ``argparse.Namespace`` and returning an exit code;
it may be a coroutine function). User mistakes are reported as one line on stderr with exit
code 2, never a traceback: raise :class:`UserError` for them.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import sys
from collections.abc import Sequence

#: Sub-command modules, in help order. A module that is missing is left out of the CLI.
COMMANDS = ("serve", "simulate", "stations", "events", "projections", "token", "apikey", "command", "profiles", "registry")


class UserError(Exception):
    """A mistake the user can fix (bad flag, unreachable broker): printed as one line."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chargelog", description="Event-sourced EV charging backend.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"chargelog.adapters.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"chargelog.adapters.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
    except UserError as exc:
        print(f"chargelog: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":  # run via the package entry so UserError has one identity
    from chargelog.adapters.cli.main import main as _main

    sys.exit(_main())
