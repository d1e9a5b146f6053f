"""Flags shared by sub-commands that open the log, and their translation to Settings."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError

from chargelog.adapters.config import Settings, load_settings
from chargelog.adapters.log import open_log
from chargelog.domain.envelope import EventDecodeError
from chargelog.domain.log import EventLog, InvalidPosition, LogUnavailable

from .main import UserError


def add_log_flags(parser: argparse.ArgumentParser) -> None:
    """``--log``, ``--data-dir``, ``--config``, ``--topic-prefix``."""
    parser.add_argument("--log", help="'embedded' (default) or kafka://HOST:PORT (env CHARGELOG_LOG)")
    parser.add_argument("--data-dir", help="data directory (env CHARGELOG_DATA_DIR; default ./.chargelog)")
    parser.add_argument("--topic-prefix", help="Kafka topic prefix (env CHARGELOG_TOPIC_PREFIX)")
    parser.add_argument("--config", help="settings file, TOML or JSON (env CHARGELOG_CONFIG)")


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    """Settings from the config file < environment < the flags in ``args`` and ``extra``.

    Raises :class:`UserError` (one line) for invalid values or an unreadable file."""
    if getattr(args, "config", None):
        os.environ["CHARGELOG_CONFIG"] = args.config
    flags = {"log": getattr(args, "log", None), "data_dir": getattr(args, "data_dir", None),
             "topic_prefix": getattr(args, "topic_prefix", None), **extra}
    try:
        settings = load_settings(**flags)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"invalid setting {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    except OSError as exc:
        raise UserError(f"cannot read settings file: {exc}") from None
    if not (settings.log == "embedded" or settings.is_kafka):
        raise UserError(f"--log must be 'embedded' or kafka://HOST:PORT, not {settings.log!r}")
    return settings


@contextlib.asynccontextmanager
async def opened_log(settings: Settings) -> AsyncIterator[EventLog]:
    """The started log of ``settings``, closed afterwards. Raises :class:`UserError` when the
    embedded log does not exist, the broker does not answer, or a position or record is bad."""
    if not settings.is_kafka and not (settings.data_dir / "log").is_dir():
        raise UserError(f"no embedded log under {settings.data_dir} (give --data-dir, or --log kafka://HOST:PORT)")
    log = open_log(settings)
    try:
        await log.start()
        yield log
    except LogUnavailable as exc:
        raise UserError(str(exc)) from None
    except (EventDecodeError, InvalidPosition, LookupError) as exc:
        raise UserError(str(exc)) from None
    finally:
        await log.close()
