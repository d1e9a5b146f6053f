"""A stand-alone OCPP gateway process: ``python -m chargelog.adapters.ocpp.run``.

Settings come from ``CHARGELOG_*`` environment variables / ``CHARGELOG_CONFIG`` (see
``chargelog.adapters.config.settings``). Prints ``listening <port>`` on stdout once bound
(``CHARGELOG_OCPP_PORT=0`` picks a free port); SIGTERM/SIGINT stop it gracefully within ``shutdown_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from chargelog.adapters.config import load_settings
from chargelog.adapters.log import open_log
from chargelog.adapters.runtime import LOG_CLOSE_RESERVE_S

from .gateway import OcppGateway


async def main() -> None:
    settings = load_settings()
    log = open_log(settings)
    await log.start()
    gateway = OcppGateway(log, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await gateway.start()
    print(f"listening {gateway.port}", flush=True)
    try:
        await stop.wait()
    finally:  # within shutdown_timeout_s whatever the log's state
        await gateway.stop(max(0.0, settings.shutdown_timeout_s - LOG_CLOSE_RESERVE_S))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(log.close(), LOG_CLOSE_RESERVE_S)


def _run() -> None:
    try:  # uvloop, when installed, roughly doubles socket throughput
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


if __name__ == "__main__":
    _run()
