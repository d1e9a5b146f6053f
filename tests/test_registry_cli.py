"""``chargelog registry`` (adapters/cli/registry.py) on both engines: load is idempotent,
operator commands append only changes, ``show`` prints the registry, mistakes are one line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chargelog.adapters.cli.main import main
from chargelog.adapters.config import Settings

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "registry.toml")


def run(settings: Settings, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    action, *rest = argv
    flags = ["--log", settings.log, "--data-dir", str(settings.data_dir), "--topic-prefix", settings.topic_prefix]
    code = main(["registry", action, *flags, *rest])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_registry_commands(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(settings, capsys, "load", EXAMPLE)[2].startswith("12 change(s) appended")
    assert run(settings, capsys, "load", EXAMPLE)[2].startswith("no change")
    assert run(settings, capsys, "idtag", "--id-tag", "T9", "--user", "bob", "--expiry", "2030-01-01")[2] \
        .startswith("1 change")
    assert run(settings, capsys, "idtag", "--id-tag", "T9", "--user", "bob", "--expiry", "2030-01-01")[2] \
        .startswith("no change")
    assert run(settings, capsys, "set-password", "--charge-point", "CP002", "--password", "p" * 16)[2] \
        .startswith("1 change")
    assert run(settings, capsys, "set-password", "--charge-point", "CP002", "--password", "p" * 16)[2] \
        .startswith("no change")
    run(settings, capsys, "site", "--site", "STATION001", "--name", "Renamed")
    run(settings, capsys, "chargepoint", "--charge-point", "CP002", "--maintenance")
    run(settings, capsys, "tariff", "--tariff", "default", "--per-kwh", "0.4")
    code, out, _ = run(settings, capsys, "show")
    assert code == 0
    shown = json.loads(out)
    sites = {s["siteId"]: s for s in shown["sites"]}
    assert sites["STATION001"]["name"] == "Renamed" and sites["STATION001"]["address"] == "123 Main Street"
    cps = {c["chargePointId"]: c for c in shown["chargePoints"]}
    assert cps["CP002"]["maintenance"] is True and cps["CP002"]["passwordHash"] == "set"
    assert cps["CP002"]["name"] == "South bay"  # unspecified fields are kept
    tags = {t["idTag"]: t for t in shown["idTags"]}
    assert datetime.fromisoformat(tags["T9"]["expiryDate"]) == datetime(2030, 1, 1, tzinfo=UTC)
    assert {t["tariffId"]: t["pricePerKwh"] for t in shown["tariffs"]}["default"] == 0.4


@pytest.mark.parametrize("engine", ["embedded"])
@pytest.mark.parametrize(("argv", "message"), [
    (("load", "/nonexistent/registry.toml"), "cannot read"),
    (("idtag", "--id-tag", "T", "--user", "u", "--expiry", "soon"), "--expiry: not an ISO 8601 time"),
    (("idtag", "--id-tag", "T" * 21, "--user", "u"), "idTag: String should have at most 20 characters"),
    (("site", "--site", "S", "--latitude", "95"), "latitude"),
    (("set-password", "--charge-point", "CP1", "--password", ""), "must not be empty"),
])
def test_mistakes_are_one_line(settings: Settings, capsys: pytest.CaptureFixture[str],
                               argv: tuple[str, ...], message: str) -> None:
    code, _, err = run(settings, capsys, *argv)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_hash_password(capsys: pytest.CaptureFixture[str]) -> None:
    from chargelog.domain.registry import verify_password

    assert main(["registry", "hash-password", "--password", "0123456789abcdef"]) == 0
    assert verify_password("0123456789abcdef", capsys.readouterr().out.strip())
