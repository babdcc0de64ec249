"""The console in a real headless Chromium against the local stack (a host process, Azurite,
the Kaizala and Dataverse simulators): a sent action and a dead event show, replay fixes it.

Chromium and ChromeDriver are the operating system's (`/usr/bin`; `.ci/run` installs them);
selenium is given the driver's path, so selenium-manager downloads nothing. Without them the
test skips, except under CI, where it fails. `CONSOLE_SCREENSHOT=<path>` also saves the page
as shown with that data (docs/console.png is made this way).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.azurite import Azurite
from tests.cluster import WEBHOOK, Cluster, cluster, survey_event

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_SECONDS = 60  # an upper bound for each explicit wait, never a pause


def _require_browser() -> None:
    if CHROMIUM.is_file() and CHROMEDRIVER.is_file():
        return
    if os.environ.get("CI"):
        pytest.fail("Chromium or ChromeDriver is missing under /usr/bin (.ci/run installs them)")
    pytest.skip("Chromium and ChromeDriver are not installed under /usr/bin (CI has them)")


@pytest.fixture(scope="module")
def stack(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    _require_browser()
    folder = tmp_path_factory.mktemp("console")
    # One host; a failed Dynamics write is dead at its first attempt.
    with cluster(azurite.connection_string, folder, size=1, INBOX_MAX_ATTEMPTS="1") as running:
        running.onboard()
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="console-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1120",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_console_shows_a_sent_action_and_a_dead_event_and_replays_it(
    stack: Cluster, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    host = stack.hosts[0]
    stack.send_survey("Fabrikam – 20 servers")
    action = stack.send_survey("Contoso – 500 laptops")
    assert stack.dataverse is not None
    stack.dataverse.set_down(True)  # the response's write fails: with one attempt, dead
    event = survey_event(action["actionId"])
    token = stack.callback_token()
    answer = httpx.post(
        f"{host.url}{WEBHOOK}", json=event, headers={"kz-callback-token": token}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    stack.dataverse.set_down(False)

    # A Power Automate flow subscribed (its callback is never reached in this test).
    subscribed = httpx.post(
        f"{host.url}/api/subscriptions",
        json={"callbackUrl": "http://127.0.0.1:9/flow-callback?sig=console-test"},
        timeout=30,
    )
    assert subscribed.status_code == 201, subscribed.text

    key = "console-test-key"  # the local host checks no key: this proves where the page puts it
    browser.get(f"{host.url}/api/console?code={key}")
    wait = WebDriverWait(browser, WAIT_SECONDS)
    row = f'tr[data-correlation-id="{action["correlationId"]}"]'
    sent = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, row)))
    assert "sent" in sent.text
    assert "Contoso" in sent.text
    dead = f'tr[data-event-id="{event["eventId"]}"]'
    dead_row = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, dead)))
    assert "dead" in dead_row.text
    wait.until(ec.text_to_be_present_in_element((By.ID, "inbox-counts"), "dead: 1"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "webhook-rows"), "active"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "flow-rows"), "127.0.0.1"))
    assert "console-test" not in browser.find_element(By.ID, "flow-rows").text  # host only
    assert key not in browser.find_element(By.TAG_NAME, "html").get_attribute("outerHTML")

    shot = os.environ.get("CONSOLE_SCREENSHOT")
    if shot:
        browser.save_screenshot(shot)

    dead_row.find_element(By.CSS_SELECTOR, "button.replay-one").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "replay-result"), "done 1"))
    wait.until(ec.invisibility_of_element_located((By.CSS_SELECTOR, dead)))
    wait.until(ec.text_to_be_present_in_element((By.ID, "inbox-counts"), "done: 1"))
    wait.until(ec.visibility_of_element_located((By.ID, "problems-empty")))
    assert stack.dataverse.activities("tasks"), "the replayed response reached Dynamics"
    # The response is counted; its summary note is marked, written by a timer not run here.
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, row), "1 pending"))
    # The page's own console shows no CSP violation, no error, and never the key.
    logs = [entry["message"] for entry in browser.get_log("browser")]
    assert not [m for m in logs if "Content Security Policy" in m or key in m], logs


def test_console_headers_are_strict(stack: Cluster) -> None:
    answer = httpx.get(f"{stack.hosts[0].url}/api/console", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    csp = answer.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "script-src 'sha256-" in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    assert "://" not in answer.text  # no absolute URL: nothing is fetched from elsewhere
