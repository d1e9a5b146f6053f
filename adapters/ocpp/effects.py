"""What an accepted answer to a central-system operation changes beyond the frame itself,
as events appended in the same batch as the answer.

* ChangeConfiguration ``AuthorizationKey`` answered ``Accepted`` (OCPP 1.6 Security
  Whitepaper ed. 3 §2.4 "Update Charge Point password for HTTP Basic Authentication",
  OCTT TC_073): the charge point now authenticates with the new password, so the registry's
  password hash for it is replaced (``registry.chargepoint.password.set``, hash only). A
  ``Rejected`` answer changes nothing: the old password stays valid.
* ChangeConfiguration ``SecurityProfile`` answered ``Accepted`` (whitepaper §2.3, OCTT
  TC_083): the registry records the charge point's ``securityProfile``
  (``registry.chargepoint.upserted``, the rest of its record unchanged); from profile 3 on
  the gateway refuses it without its client certificate (no downgrade).
"""

from __future__ import annotations

import asyncio
from typing import Any

from chargelog.domain.envelope import Event
from chargelog.domain.registry import ChargePointInfo, Registry, charge_point_upserted, hash_password, password_set

AUTHORIZATION_KEY = "AuthorizationKey"
SECURITY_PROFILE = "SecurityProfile"


async def accepted_answer_effects(charge_point_id: str, action: str, request: dict[str, Any],
                                  answer: dict[str, Any], registry: Registry | None = None) -> list[Event]:
    """The events an answered operation implies (empty for most); ``registry``: the current
    registry (the charge point's record to update)."""
    if (action == "ChangeConfiguration" and request.get("key") == SECURITY_PROFILE
            and answer.get("status") == "Accepted" and str(request.get("value")) in ("0", "1", "2", "3")):
        current = (registry or Registry()).charge_point(charge_point_id) or ChargePointInfo(chargePointId=charge_point_id)
        return [charge_point_upserted(current.model_copy(update={"securityProfile": int(request["value"])}))]
    if (action == "ChangeConfiguration" and request.get("key") == AUTHORIZATION_KEY
            and answer.get("status") == "Accepted" and isinstance(request.get("value"), str)):
        digest = await asyncio.to_thread(hash_password, request["value"])
        return [password_set(charge_point_id, digest)]
    return []
