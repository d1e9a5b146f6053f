"""``chargelog profile-state --charge-point ID``: print one charge point's profile state —
reservations, charging profiles and composite schedules, local authorization list,
firmware / diagnostics / log jobs, security events and certificates — as JSON: the stored
read model of the read-model store the flags name, caught up with the log's end
(:mod:`chargelog.projections.profile_state`)."""

from __future__ import annotations

import argparse
import json

from chargelog.adapters.log import open_log
from chargelog.adapters.store import open_store
from chargelog.projections.profile_state import profile_state

from .common import add_log_flags, settings_from


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("profile-state", help="a charge point's reservations, charging profiles, "
                                                    "local list, jobs and security events")
    add_log_flags(p)
    p.add_argument("--charge-point", required=True, metavar="ID", help="chargePointId")
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    log = open_log(settings)
    store = open_store(settings)
    try:
        await log.start()
        print(json.dumps(await profile_state(log, store, args.charge_point), indent=2), flush=True)
        return 0
    finally:
        store.close()
        await log.close()
