"""``chargelog command ACTION --charge-point ID --payload JSON [--wait]``: request an OCPP 1.6
central-system operation as an operator.

Prints the ``correlationId``; with ``--wait``, then prints the outcome as one JSON line
(``status`` answered / failed / … — see ``chargelog.adapters.ocpp.commands.CommandOutcome``)
and exits 0 when the charge point answered with a CALLRESULT, 1 otherwise.
"""

from __future__ import annotations

import argparse
import getpass
import json

from chargelog.adapters.log import open_log
from chargelog.adapters.ocpp.commands import CS_ACTIONS, InvalidCommand, request_command, wait_for_outcome
from chargelog.adapters.ocpp.sealing import Sealer
from chargelog.domain.envelope import Principal
from chargelog.domain.log import SOURCE

from .common import add_log_flags, settings_from
from .main import UserError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("command", help="request an OCPP 1.6 operation on a charge point",
                              description="Append a command.requested event; the gateway holding the "
                                          "charge point sends the CALL.")
    add_log_flags(p)
    p.add_argument("action", metavar="ACTION", help="one of: " + ", ".join(sorted(CS_ACTIONS)))
    p.add_argument("--charge-point", required=True, metavar="ID", help="chargePointId")
    p.add_argument("--payload", default="{}", metavar="JSON", help="the OCPP request payload (camelCase JSON)")
    p.add_argument("--timeout", type=float, metavar="S", help="CALL timeout in s (default: command_timeout_s)")
    p.add_argument("--wait", action="store_true", help="wait for the outcome and print it")
    p.add_argument("--operator", default=None, help="operator id recorded as principal (default: login name)")
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    try:
        payload = json.loads(args.payload)
    except json.JSONDecodeError as exc:
        raise UserError(f"--payload is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise UserError("--payload must be a JSON object")
    settings = settings_from(args)
    log = open_log(settings)
    await log.start()
    try:
        after = await log.latest(SOURCE)
        try:
            cid = await request_command(log, args.charge_point, args.action, payload, timeout_s=args.timeout,
                                        sealer=Sealer.of(settings),
                                        principal=Principal(kind="operator", id=args.operator or getpass.getuser()))
        except InvalidCommand as exc:
            raise UserError(str(exc)) from None
        print(cid, flush=True)
        if not args.wait:
            return 0
        outcome = await wait_for_outcome(log, cid, after=after,
                                         timeout_s=(args.timeout or settings.command_timeout_s) + 5)
        print(json.dumps(outcome.to_json()), flush=True)
        return 0 if outcome.status == "answered" else 1
    finally:
        await log.close()
