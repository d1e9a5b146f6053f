"""Credentials in operator commands (ChangeConfiguration AuthorizationKey) stay off the log:
sealed in ``command.requested``, refused without a sealer, unreadable with another secret."""

from __future__ import annotations

import pytest

from chargelog.adapters.ocpp.commands import InvalidCommand, command_requested_event
from chargelog.adapters.ocpp.sealing import REDACTED, SealError, Sealer

REQUEST = {"key": "AuthorizationKey", "value": "a-new-password-0123456789"}


def test_the_credential_is_sealed_and_only_the_same_secret_opens_it():
    event = command_requested_event("CP1", "ChangeConfiguration", REQUEST, principal="op",
                                    sealer=Sealer("secret-one-" * 4))
    assert event.payload["request"] == {"key": "AuthorizationKey", "value": REDACTED}
    assert REQUEST["value"] not in event.model_dump_json()
    opened = Sealer("secret-one-" * 4).open_request(event.payload["request"], event.payload["sealed"])
    assert opened == REQUEST
    with pytest.raises(SealError):
        Sealer("secret-two-" * 4).open_request(event.payload["request"], event.payload["sealed"])


def test_a_credential_without_a_sealer_is_refused_and_other_keys_pass_as_is():
    with pytest.raises(InvalidCommand) as refused:
        command_requested_event("CP1", "ChangeConfiguration", REQUEST, principal="op")
    assert refused.value.error_code == "SecurityError"
    plain = command_requested_event("CP1", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"},
                                    principal="op")
    assert plain.payload["request"]["value"] == "60" and "sealed" not in plain.payload
