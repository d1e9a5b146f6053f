"""Registries on the log (both engines): loading a file is idempotent, only changes are
appended, and LiveRegistry folds the log and follows it (adapters/registry/)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from chargelog.adapters.ocpp.ports import IdTagInfo
from chargelog.adapters.registry import (
    LiveRegistry, apply_registry_changes, apply_registry_file, load_registry_file, read_registry,
)
from chargelog.domain.envelope import Event
from chargelog.domain.log import SOURCE, EventLog
from chargelog.domain.registry import REGISTRY_TYPES, IdTag, hash_password, id_tag_upserted, password_set

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "registry.toml"


def frame(cp: str) -> Event:
    return Event(type="ocpp.frame", chargePointId=cp, payload={"direction": "in", "action": "Heartbeat"})


async def registry_events(log: EventLog) -> list[Event]:
    return [r.event for r in await log.read(SOURCE) if r.event.type in REGISTRY_TYPES]


async def test_loading_the_same_file_twice_appends_nothing_new(log: EventLog) -> None:
    await log.append(SOURCE, [frame("CP001"), frame("CP002")])
    first = await apply_registry_changes(log, load_registry_file(EXAMPLE))
    assert len(first) == len(load_registry_file(EXAMPLE))
    # without the current registry the password gets a fresh salt, and is still no change
    assert await apply_registry_changes(log, load_registry_file(EXAMPLE)) == []
    assert await apply_registry_file(log, EXAMPLE) == []
    assert len(await registry_events(log)) == len(first)
    registry, _ = await read_registry(log)
    assert registry.verify_password("CP001", "cp001-secret-password")


async def test_only_changes_are_appended(log: EventLog, tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text('[[idTags]]\nidTag = "T1"\nuserId = "u1"\n[[idTags]]\nidTag = "T2"\nuserId = "u2"\n'
                    '[[chargePoints]]\nchargePointId = "CP1"\npassword = "first-password-123"\n')
    assert len(await apply_registry_file(log, path)) == 4
    path.write_text('[[idTags]]\nidTag = "T1"\nuserId = "u1"\n[[idTags]]\nidTag = "T2"\nuserId = "u2"\n'
                    'status = "Blocked"\n[[chargePoints]]\nchargePointId = "CP1"\npassword = "second-password-1"\n')
    changed = await apply_registry_file(log, path)
    assert [e.type for e in changed] == ["registry.chargepoint.password.set", "registry.idtag.upserted"]
    registry, _ = await read_registry(log)
    assert registry.authorize("T2", datetime.now(UTC)) == "Blocked"
    assert registry.verify_password("CP1", "second-password-1") is True
    assert registry.verify_password("CP1", "first-password-123") is False


async def test_live_registry_loads_and_follows(log: EventLog) -> None:
    await apply_registry_file(log, EXAMPLE)
    live = LiveRegistry(log, poll_interval_s=0.05)
    await live.start()
    try:
        assert live.current == (await read_registry(log))[0]
        assert set(live.current.sites) == {"STATION001", "STATION002"}
        assert live.is_known("CP003") and not live.is_known("CP999")
        assert live.lookup("TAG-LOST") == IdTagInfo(status="Blocked", userId="alice")
        assert live.lookup("nope") is None
        assert live.verify("CP001", "cp001-secret-password") is True
        assert live.verify("CP002", "anything") is None
        assert live.password_hash("CP001").startswith("scrypt$")

        # read-your-writes
        [position] = await log.append(SOURCE, [id_tag_upserted(IdTag(idTag="NEW", userId="bob"))])
        await log.append(SOURCE, [frame("CP001")])
        assert (await live.wait_for(position)).id_tag("NEW") is not None
        assert live.lookup("NEW").userId == "bob"

        # followed in the background: another writer's change arrives by itself
        await log.append(SOURCE, [password_set("CP002", hash_password("cp002-password-xyz"))])
        await live.wait_until(lambda r: r.verify_password("CP002", "cp002-password-xyz") is not None, 30)
        assert live.verify("CP002", "cp002-password-xyz") is True
    finally:
        await live.stop()


async def test_live_registry_on_an_empty_log(log: EventLog) -> None:
    live = LiveRegistry(log, poll_interval_s=0.05)
    await live.start()
    try:
        assert live.current.sites == {} and live.lookup("SIMTAG") is None
        with_tag = asyncio.create_task(live.wait_until(lambda r: r.id_tag("SIMTAG") is not None, 30))
        await apply_registry_file(log, EXAMPLE)
        assert (await with_tag).id_tag("SIMTAG").userId == "user-1"
    finally:
        await live.stop()


async def test_an_invalid_registry_event_is_skipped(log: EventLog) -> None:
    from chargelog.domain.registry import registry_event

    await log.append(SOURCE, [registry_event("registry.idtag.upserted", {"idTag": "X" * 30, "userId": "u"}),
                              registry_event("registry.idtag.deleted", {}),
                              id_tag_upserted(IdTag(idTag="OK", userId="u"))])
    registry, _ = await read_registry(log)
    assert list(registry.id_tags) == ["OK"]
