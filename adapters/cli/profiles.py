"""``chargelog profile-state --charge-point ID``: print one charge point's profile state —
reservations, charging profiles and composite schedules, local authorization list,
firmware / diagnostics / log jobs, security events and certificates — as JSON, rebuilt from
the log (:mod:`chargelog.projections.profile_state`)."""

from __future__ import annotations

import argparse
import json

from chargelog.adapters.log import open_log
from chargelog.projections.profile_state import profile_state

from .common import add_log_flags, settings_from


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("profile-state", help="a charge point's reservations, charging profiles, "
                                                    "local list, jobs and security events")
    add_log_flags(p)
    p.add_argument("--charge-point", required=True, metavar="ID", help="chargePointId")
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    log = open_log(settings_from(args))
    await log.start()
    try:
        print(json.dumps(await profile_state(log, args.charge_point), indent=2), flush=True)
        return 0
    finally:
        await log.close()
