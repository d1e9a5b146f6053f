"""The registry fold, lookups, the OCPP 1.6 authorize rule, tariffs and password hashes
(domain/registry.py; registry files: adapters/registry/file.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chargelog.adapters.registry import RegistryFileError, load_registry_file
from chargelog.domain.envelope import Event
from chargelog.domain.registry import (
    BUILTIN_TARIFF, CHARGEPOINT_DELETED, PASSWORD_DELETED, ChargePointInfo, IdTag, Registry, Site,
    Tariff, charge_point_upserted, hash_password, id_tag_upserted, password_salt, password_set,
    registry_event, site_upserted, tariff_upserted, verify_password,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "registry.toml"


def fold(*events: Event) -> Registry:
    return Registry().apply_all(events)


def test_fold_upserts_and_lookups() -> None:
    reg = fold(
        site_upserted(Site(siteId="S1", name="Main Street", address="1 Main St", latitude=40.7,
                           longitude=-74.0, chargePointIds=("CP001",))),
        charge_point_upserted(ChargePointInfo(chargePointId="CP002", siteId="S1", connectors=2)),
        id_tag_upserted(IdTag(idTag="T1", userId="u1")),
    )
    assert reg.site_of("CP001") == reg.site("S1")
    assert reg.site_of("CP002") == reg.site("S1")
    assert reg.site_of("CP999") is None
    assert reg.charge_points_at("S1") == ["CP001", "CP002"]
    assert reg.charge_point("CP002") == ChargePointInfo(chargePointId="CP002", siteId="S1", connectors=2)
    assert reg.id_tag("T1") == IdTag(idTag="T1", userId="u1")
    assert [t.idTag for t in reg.id_tags_of("u1")] == ["T1"]


def test_apply_is_pure_and_ignores_other_events() -> None:
    empty = Registry()
    after = empty.apply(id_tag_upserted(IdTag(idTag="T1", userId="u1")))
    assert empty == Registry() and after != empty
    frame = Event(type="ocpp.frame", chargePointId="CP001", payload={"x": 1})
    assert after.apply(frame) is after


def test_upsert_replaces_record_and_keeps_password() -> None:
    h = hash_password("secret-secret-1")
    reg = fold(charge_point_upserted(ChargePointInfo(chargePointId="CP1", name="a")),
               password_set("CP1", h),
               charge_point_upserted(ChargePointInfo(chargePointId="CP1", name="b", maintenance=True)))
    assert reg.charge_point("CP1") == ChargePointInfo(chargePointId="CP1", name="b", maintenance=True, passwordHash=h)
    assert "passwordHash" not in charge_point_upserted(reg.charge_point("CP1")).payload


def test_deletions() -> None:
    reg = fold(charge_point_upserted(ChargePointInfo(chargePointId="CP1")),
               password_set("CP1", hash_password("pw-pw-pw-pw")))
    assert reg.apply(registry_event(PASSWORD_DELETED, {"chargePointId": "CP1"})).charge_point("CP1").passwordHash is None
    assert reg.apply(registry_event(CHARGEPOINT_DELETED, {"chargePointId": "CP1"})).charge_point("CP1") is None
    assert reg.apply(registry_event(PASSWORD_DELETED, {"chargePointId": "nope"})) == reg


def test_invalid_registry_payload_raises() -> None:
    with pytest.raises(ValidationError):
        Registry().apply(registry_event("registry.idtag.upserted", {"idTag": "x" * 21, "userId": "u"}))


@pytest.mark.parametrize(("tag", "expected"), [
    (None, "Invalid"),
    (IdTag(idTag="T", userId="u"), "Accepted"),
    (IdTag(idTag="T", userId="u", status="Blocked"), "Blocked"),
    (IdTag(idTag="T", userId="u", status="Invalid"), "Invalid"),
    (IdTag(idTag="T", userId="u", status="Expired"), "Expired"),
    (IdTag(idTag="T", userId="u", expiryDate=NOW), "Expired"),
    (IdTag(idTag="T", userId="u", expiryDate=NOW - timedelta(seconds=1)), "Expired"),
    (IdTag(idTag="T", userId="u", expiryDate=NOW + timedelta(seconds=1)), "Accepted"),
    (IdTag(idTag="T", userId="u", status="Blocked", expiryDate=NOW - timedelta(days=1)), "Blocked"),
])
def test_authorize_follows_ocpp_16(tag: IdTag | None, expected: str) -> None:
    reg = fold(id_tag_upserted(tag)) if tag else Registry()
    assert reg.authorize("T", NOW) == expected
    assert reg.id_tag_info("T", NOW)["status"] == expected


def test_id_tag_info_shape() -> None:
    reg = fold(id_tag_upserted(IdTag(idTag="T", userId="u", expiryDate=NOW + timedelta(days=1), parentIdTag="P")))
    assert reg.id_tag_info("T", NOW) == {"status": "Accepted", "expiryDate": "2026-01-02T12:00:00+00:00",
                                         "parentIdTag": "P"}


def test_naive_expiry_is_rejected() -> None:
    with pytest.raises(ValidationError):
        IdTag(idTag="T", userId="u", expiryDate=datetime(2030, 1, 1))


def test_tariff_assignment_precedence() -> None:
    reg = fold(site_upserted(Site(siteId="S1", chargePointIds=("CP1", "CP2", "CP3"), tariffId="site")),
               charge_point_upserted(ChargePointInfo(chargePointId="CP1", tariffId="own")),
               charge_point_upserted(ChargePointInfo(chargePointId="CP3", tariffId="missing")))
    assert reg.tariff_for("CP1") == BUILTIN_TARIFF  # nothing defined yet
    reg = reg.apply_all([tariff_upserted(Tariff(tariffId=t, pricePerKwh=p)) for t, p in
                         (("own", 0.1), ("site", 0.2), ("default", 0.3))])
    assert reg.tariff_for("CP1").tariffId == "own"
    assert reg.tariff_for("CP2").tariffId == "site"
    assert reg.tariff_for("CP3").tariffId == "site"  # missing own tariff falls through
    assert reg.tariff_for("elsewhere").tariffId == "default"


@pytest.mark.parametrize(("kwh", "minute", "wh", "s", "cost"), [
    (0.35, 0.0, 10_000, 3600, 3.50),
    (0.30, 0.05, 12_345.6, 3600, 6.70),   # 3.70368 + 3.00
    (0.10, 0.0, 50, 0, 0.01),             # 0.005 rounds half up
    (0.10, 0.0, 49, 0, 0.0),
    (0.0, 0.02, 0, 90, 0.03),
    (0.5, 0.5, -10, -10, 0.0),
])
def test_tariff_cost_rounds_to_cents(kwh: float, minute: float, wh: float, s: float, cost: float) -> None:
    assert Tariff(tariffId="t", pricePerKwh=kwh, pricePerMinute=minute).cost(wh, s) == cost


@given(st.floats(0, 1e6), st.floats(0, 1e5), st.floats(0, 2), st.floats(0, 1))
def test_tariff_cost_is_monotonic_in_energy(wh: float, s: float, kwh: float, minute: float) -> None:
    tariff = Tariff(tariffId="t", pricePerKwh=kwh, pricePerMinute=minute)
    assert 0 <= tariff.cost(wh, s) <= tariff.cost(wh + 1000, s)


def test_password_hash_and_verify() -> None:
    h = hash_password("correct horse battery")
    assert h.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse battery", h)
    assert not verify_password("wrong", h)
    assert not verify_password("x", "not-a-hash")
    assert hash_password("correct horse battery", password_salt(h)) == h
    assert hash_password("correct horse battery") != h  # fresh salt
    with pytest.raises(ValueError):
        hash_password("")
    with pytest.raises(ValueError):
        password_set("CP1", "plaintext")
    reg = fold(password_set("CP1", h))
    assert reg.verify_password("CP1", "correct horse battery") is True
    assert reg.verify_password("CP1", "nope") is False
    assert reg.verify_password("CP2", "anything") is None


def test_events_rebuild_the_registry() -> None:
    reg = fold(*load_registry_file(EXAMPLE))
    assert fold(*reg.events()) == reg


def test_example_file() -> None:
    events = load_registry_file(EXAMPLE)
    reg = fold(*events)
    assert set(reg.sites) == {"STATION001", "STATION002"}
    assert reg.charge_points_at("STATION002") == ["CP003", "CP004"]
    assert reg.charge_point("CP004").maintenance
    assert reg.tariff_for("CP003").tariffId == "fast"
    assert reg.tariff_for("CP001").tariffId == "default"
    assert reg.verify_password("CP001", "cp001-secret-password") is True
    assert reg.authorize("TAG-LOST", NOW) == "Blocked"
    assert reg.authorize("TAG-ALICE", datetime(2031, 1, 1, tzinfo=UTC)) == "Expired"
    assert events.passwords == {"CP001": "cp001-secret-password"}
    assert reg.to_json()["chargePoints"][0]["passwordHash"] == "set"
    # reloading against the current registry reuses the salt: identical password hash
    again = fold(*load_registry_file(EXAMPLE, current=reg))
    assert again == reg


def test_json_file(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"idTags": [{"idTag": "T1", "userId": "u1", "expiryDate": "2030-01-01T00:00:00Z"}],'
                    ' "chargePoints": [{"chargePointId": "CP1", "passwordHash": "%s"}]}'
                    % hash_password("0123456789abcdef"))
    reg = fold(*load_registry_file(path))
    assert reg.id_tag("T1").expiryDate == datetime(2030, 1, 1, tzinfo=UTC)
    assert reg.verify_password("CP1", "0123456789abcdef")


@pytest.mark.parametrize(("text", "message"), [
    ("[[idTags]]\nidTag = 'x'\n", "idTags[0].userId: Field required"),
    ("[[idTags]]\nidTag = '123456789012345678901'\nuserId = 'u'\n", "idTags[0].idTag: String should have at most 20"),
    ("[[sites]]\nsiteId = 'S'\nlatitude = 91\n", "sites[0].latitude"),
    ("[[sites]]\nsiteId = 'S'\n[[sites.chargePoints]]\nname = 'no id'\n", "sites[0].chargePoints[0].chargePointId"),
    ("[[chargePoints]]\nchargePointId = 'C'\npasswordHash = 'plain'\n", "chargePoints[0].passwordHash"),
    ("[[stations]]\n", "unknown section"),
    ("idTags = 3\n", "idTags must be a list"),
    ("[[idTags]\n", "not valid TOML"),
])
def test_bad_files_give_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(RegistryFileError) as err:
        load_registry_file(path)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(path) in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryFileError, match="cannot read"):
        load_registry_file(tmp_path / "absent.toml")


_ids = st.sampled_from(["A", "B", "C"])
_registry_events = st.one_of(
    st.builds(lambda i, u, s: id_tag_upserted(IdTag(idTag=i, userId=u, status=s)), _ids, _ids,
              st.sampled_from(["Accepted", "Blocked"])),
    st.builds(lambda i: registry_event("registry.idtag.deleted", {"idTag": i}), _ids),
    st.builds(lambda i, n: charge_point_upserted(ChargePointInfo(chargePointId=i, name=n)), _ids, _ids),
    st.builds(lambda i: password_set(i, f"scrypt$2$1$1$c2FsdA==${i}A=="), _ids),
    st.builds(lambda i: registry_event("registry.chargepoint.deleted", {"chargePointId": i}), _ids),
    st.builds(lambda i, p: tariff_upserted(Tariff(tariffId=i, pricePerKwh=p)), _ids, st.sampled_from([0.1, 0.2])),
)


@given(st.lists(_registry_events, max_size=30))
def test_fold_is_last_write_wins_and_batching_does_not_matter(events: list[Event]) -> None:
    one_by_one = Registry()
    for event in events:
        one_by_one = one_by_one.apply(event)
    assert Registry().apply_all(events) == one_by_one
    # id tags: the last upsert after the last delete wins
    for tag_id in "ABC":
        last = None
        for event in events:
            if event.type.startswith("registry.idtag.") and event.payload["idTag"] == tag_id:
                last = event
        expected = IdTag.model_validate(last.payload) if last and last.type.endswith("upserted") else None
        assert one_by_one.id_tag(tag_id) == expected
    # a charge point's password survives upserts and is gone after a delete
    for cp in "ABC":
        info = one_by_one.charge_point(cp)
        touched = [e for e in events if e.payload.get("chargePointId") == cp]
        if not touched or touched[-1].type == "registry.chargepoint.deleted":
            assert info is None
        else:
            since_delete = touched[max((i for i, e in enumerate(touched) if e.type.endswith("deleted")),
                                       default=-1) + 1:]
            has_password = any(e.type == "registry.chargepoint.password.set" for e in since_delete)
            assert (info.passwordHash is not None) == has_password
