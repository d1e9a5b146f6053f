"""OCPP 1.6 StopTransaction ``reason`` (§7.38 ``Reason``; absent means ``Local``, §6.52) in
each dialect's vocabulary.

=================  =====================  ==============================================
OCPP 1.6 Reason    Mobile (section 7.3)   Communication Protocol ``stop_reason`` (3.2)
=================  =====================  ==============================================
Remote             Remote                 RemoteStop
Local              Local                  LocalStop
(absent)           Local                  LocalStop
any other          as sent                as sent (DeAuthorized, EVDisconnected, …)
=================  =====================  ==============================================

mobile-websocket-api.md's example shows ``"reason": "Remote"`` (OCPP's own word);
websocket-communication-protocol.md's shows ``"stop_reason": "RemoteStop"`` (the OCPP 2.0.1
TriggerReason word; ``LocalStop`` its local counterpart). The Charging WebSocket API pushes no
stop reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: mobile-websocket-api.md 7.3: the OCPP value itself.
MOBILE_REASONS: Mapping[str, str] = {}
#: websocket-communication-protocol.md 3.2 "Session Stopped".
COMMS_REASONS: Mapping[str, str] = {"Remote": "RemoteStop", "Local": "LocalStop"}


def stop_reason(reason: Any, vocabulary: Mapping[str, str]) -> str:
    """``reason`` (an OCPP 1.6 Reason, None/empty meaning ``Local``) in ``vocabulary``."""
    ocpp = reason if isinstance(reason, str) and reason else "Local"
    return vocabulary.get(ocpp, ocpp)
