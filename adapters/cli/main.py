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
import os
import sys
from collections.abc import Sequence

#: Sub-command modules, in help order. A module that is missing is left out of the CLI.
COMMANDS = ("serve", "simulate", "stations", "events", "audit", "verify", "export", "projections", "token", "apikey",
            "command", "profiles", "registry")


class UserError(Exception):
    """A mistake the user can fix (bad flag, unreachable broker): printed as one line."""


def package_version() -> str:
    """The one version of chargelog (``chargelog.__version__``, also the package metadata's)."""
    from chargelog import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chargelog", description="Event-sourced EV charging backend.")
    parser.add_argument("--version", action="version", version=f"chargelog {package_version()}")
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
    try:
        return _flushed(_run(argv))
    except SystemExit as exit_:  # argparse: --help, --version, usage errors
        _flushed(0)
        raise exit_ from None
    except BrokenPipeError:  # e.g. `chargelog … | head`: the reader left, stop quietly
        _silence_stdout()
        return 0


def _run(argv: Sequence[str] | None) -> int:
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


def _flushed(code: int) -> int:
    """Flush stdout now, where a closed pipe can be caught (not at interpreter exit)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":  # run via the package entry so UserError has one identity
    from chargelog.adapters.cli.main import main as _main

    sys.exit(_main())
