"""The web console in a real browser: Playwright driving Debian's Chromium (headless, the
``chromium`` apt package infra/test.sh installs; never a downloaded browser) against
``chargelog serve --simulate 3``, as an operator would use it.

Signs in with an admin API key, sees the stations, starts a transaction from the console and
watches the connector turn Charging (pushed, not reloaded), opens the transaction's timeline,
sends a Reset and sees its outcome, saves a screenshot to ``test-artifacts/`` (or
``$CHARGELOG_TEST_ARTIFACTS``) and runs axe-core (vendored: tests/vendor/axe.min.js, npm
``axe-core``) with no serious or critical violation. Fails when Chromium is missing.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from processes import Server, chargelog_cmd

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
#: Two sites with coordinates (the map) for the simulated CP001…CP003, no passwords.
REGISTRY = """
[[sites]]
siteId = "STATION001"
name = "Main Street Station"
address = "123 Main Street"
latitude = 40.7128
longitude = -74.0060
chargePointIds = ["CP001", "CP002"]

[[sites]]
siteId = "STATION002"
name = "Harbour Mall"
address = "1 Harbour Road"
latitude = 40.7033
longitude = -74.0170
chargePointIds = ["CP003"]
"""
OPERATOR_KEY = "console-operator-key-0123456789"
ARTIFACTS = Path(os.environ.get("CHARGELOG_TEST_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts"))
#: Upper bound for one expected change to show (a failure, never a pacing sleep), ms.
WAIT_MS = 30_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = {"CHARGELOG_DATA_DIR": str(tmp_path / "data"), "CHARGELOG_JWT_SECRET": "console-secret-of-at-least-32-bytes!",
           "CHARGELOG_SIMULATE_METER_INTERVAL_S": "1",
           "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(chargelog_cmd("apikey", "create", "--user", "ops", "--scopes", "admin", "--key", OPERATOR_KEY),
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    registry = tmp_path / "registry.toml"
    registry.write_text(REGISTRY)
    server = Server(env, log_path=tmp_path / "serve.log", extra_args=["--simulate", "3", "--registry", str(registry)])
    # tiles from this server's own (missing) path: the map falls back to the site list and
    # the browser never leaves the loopback address
    server.env["CHARGELOG_CONSOLE_TILE_URL"] = f"http://127.0.0.1:{server.api_port}/console/static/no-tiles/{{z}}/{{x}}/{{y}}.png"
    server.start()
    try:
        yield server
    finally:
        server.stop()


def axe_serious(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document)).violations"
                           ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
                           ".map(v => v.id + ': ' + v.help + ' ' + v.nodes.map(n => n.target.join(' ')).join(', '))")
    return list(result)


def test_operator_console_in_chromium(server: Server) -> None:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: apt-get install -y chromium (infra/test.sh does)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            hosts: set[str] = set()
            page.on("request", lambda request: hosts.add(urlparse(request.url).hostname or ""))
            expect.set_options(timeout=WAIT_MS)

            # sign in with the operator's API key
            page.goto(f"{server.api_url}/console")
            page.get_by_label("Token or API key").fill(OPERATOR_KEY)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_text("ops (operator)")).to_be_visible()
            expect(page.locator("#live")).to_have_text("live")

            # the stations, from the map's site list and the charge point table
            cps = page.get_by_role("table", name="Charge points")
            for cp in ("CP001", "CP002", "CP003"):
                expect(cps.get_by_role("link", name=cp)).to_be_visible()
            expect(page.get_by_role("table", name="Sites").get_by_text("Main Street Station")).to_be_visible()
            assert page.evaluate("typeof L") == "object", "Leaflet (served from /console/static) did not load"
            expect(page.locator("#map-note")).to_contain_text("site list")

            # a remote start from the console; the connector turns Charging by push
            cps.get_by_role("link", name="CP001").click()
            expect(page.get_by_role("heading", name="Charge point CP001")).to_be_visible()
            connector = page.locator("#cp-connectors tr[data-connector='1']")
            expect(connector.locator("td").nth(1)).to_have_text("Available")
            page.get_by_role("button", name="Start on 1").click()
            expect(connector.locator("td").nth(1)).to_have_text("Charging")
            expect(page.locator("#cp-outcomes")).to_contain_text("RemoteStartTransaction (connector 1): accepted")

            # the transaction's timeline: the remote start, StartTransaction and its answer
            connector.get_by_role("link").click()
            expect(page.get_by_role("heading", name="Transaction #")).to_be_visible()
            timeline = page.locator("#tx-timeline")
            expect(timeline).to_contain_text("CALL RemoteStartTransaction")
            expect(timeline).to_contain_text("CALL StartTransaction")
            expect(timeline).to_contain_text("transaction.started")
            page.screenshot(path=str(ARTIFACTS / "console-transaction.png"), full_page=True)
            assert axe_serious(page) == []

            # a Reset and its outcome
            page.go_back()
            expect(page.get_by_role("heading", name="Charge point CP001")).to_be_visible()
            page.get_by_role("button", name="Soft reset").click()
            expect(page.locator("#cp-outcomes")).to_contain_text("Reset (Soft): accepted")
            page.get_by_role("button", name="Refresh history").click()
            expect(page.locator("#cp-frames")).to_contain_text("Reset")
            page.screenshot(path=str(ARTIFACTS / "console-chargepoint.png"), full_page=True)
            assert axe_serious(page) == []

            page.get_by_role("link", name="Station map").click()
            expect(cps.get_by_role("link", name="CP001")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "console-map.png"), full_page=True)
            # a 10,000-station network: rows on screen only, a push re-renders its row only
            rendered = page.evaluate("""() => {
                for (let i = 0; i < 10000; i++) state.stations.set('LOAD' + i, {chargePointId: 'LOAD' + i, siteId: null,
                    online: true, status: 'Available', availability: 'available', available: 2, total: 2, connectors: []});
                tables.cps.refilter();
                for (let i = 0; i < 1000; i++) apply({type: 'station.status.changed', chargePointId: 'LOAD' + i,
                    payload: {status: 'Charging', availability: 'in_use', available: 0, total: 2}});
                return new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(
                    document.querySelectorAll('[aria-label="Charge points"] .vt-row').length))));
            }""")
            assert 0 < rendered < 100
            assert axe_serious(page) == []
            assert hosts <= {"127.0.0.1"}, f"the console loaded from elsewhere: {hosts}"
        finally:
            browser.close()
