"""The /_sim control API, request logging, secrecy, and the command line."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from devtools.kaizala_sim import SAMPLE_APPLICATION_SECRET, SAMPLE_GROUP_ID
from devtools.serving import free_port
from tests.kaizala_sim.conftest import Receiver, Sim
from tests.kaizala_sim.test_actions import SURVEY, create
from tests.kaizala_sim.test_webhooks import CONTEXT, TOKEN, subscribe

G = f"groups/{SAMPLE_GROUP_ID}"
REPO = Path(__file__).resolve().parents[2]


def test_state_shows_everything_but_secrets(sim: Sim, receiver: Receiver) -> None:
    subscribe(sim, receiver.hook("state"), ["SurveyResponse"])
    action_id = create(sim, "Survey", SURVEY).json()["actionId"]
    state = sim.control("GET", "state").json()
    text = json.dumps(state)
    assert SAMPLE_APPLICATION_SECRET not in text
    assert TOKEN not in text
    assert CONTEXT in text
    assert state["connectors"][0]["applicationId"]
    assert [g["groupId"] for g in state["groups"]] == [SAMPLE_GROUP_ID]
    assert [a["actionId"] for a in state["actions"]] == [action_id]
    assert state["webhooks"][0]["hasCallBackToken"] is True
    assert state["endpoint"]["url"] == f"{sim.url}/ep/inc-000/"


def test_calls_log_and_since(sim: Sim) -> None:
    sim.access()
    sim.api("GET", "groups")
    calls = sim.control("GET", "calls").json()["calls"]
    assert [(c["method"], c["status"]) for c in calls] == [("GET", 200), ("GET", 200)]
    assert calls[1]["path"] == "/ep/inc-000/v1/groups"
    assert "?" not in calls[0]["path"]
    later = sim.control("GET", "calls", params={"since": calls[0]["ts"]}).json()["calls"]
    assert [c["path"] for c in later] == ["/ep/inc-000/v1/groups"]


def test_reset_restores_the_seed_and_config(sim: Sim) -> None:
    sim.config(connectorLimitPerWindow=3)
    temp = {"name": "Temp", "welcomeMessage": "", "members": [], "groupType": "Group"}
    sim.ok("POST", "groups", json=temp)
    assert sim.control("POST", "reset").status_code == 200
    state = sim.control("GET", "state").json()
    assert [g["groupName"] for g in state["groups"]] == ["Sales Team"]
    assert sim.control("GET", "config").json()["connectorLimitPerWindow"] == 100
    assert sim.stats()["accessTokensIssued"] == 0


def test_config_is_validated(sim: Sim) -> None:
    assert sim.control("POST", "config", json={"timeScale": 0}).status_code == 400
    assert sim.control("POST", "config", json={"noSuchSetting": 1}).status_code == 400
    assert sim.control("POST", "config", json={"duplicateDeliveries": "2"}).status_code == 400
    assert sim.control("POST", "config", json={"port": 1}).status_code == 400
    updated = sim.config(duplicateDeliveries=2, throttleWindowSeconds=5)
    assert updated["duplicateDeliveries"] == 2
    assert updated["throttleWindowSeconds"] == 5.0


def test_respond_validates_answers_and_responder(sim: Sim) -> None:
    action_id = create(sim, "Survey", SURVEY).json()["actionId"]
    good = [
        "Yes",
        1,
        ["A"],
        "t",
        {"latitude": 1, "longitude": 2, "name": "x"},
        1_900_000_000_000,
        [{"mediaUrl": "https://example.invalid/a.jpg", "mediaFileName": "a.jpg"}],
    ]
    path = f"actions/{action_id}/respond"
    assert (
        sim.control("POST", path, json={"responder": "+919100000002", "answers": good}).status_code
        == 200
    )
    for index, bad in [
        (0, "Maybe"),
        (2, "A,B"),  # a single string must itself be one of the options
        (1, "1"),
        (5, 1.5),
        (4, {"latitude": 1}),
        (6, "x"),
    ]:
        answers = list(good)
        answers[index] = bad
        response = sim.control(
            "POST", path, json={"responder": "+919100000002", "answers": answers}
        )
        assert response.status_code == 400, (index, bad, response.text)
    outsider = sim.control("POST", path, json={"responder": "+919199999999", "answers": good})
    assert outsider.status_code == 403
    unknown = sim.control("POST", "actions/nope/respond", json={"responder": "+919100000002"})
    assert unknown.status_code == 404
    by_title = sim.control(
        "POST", path, json={"responder": "+919100000003", "answers": {"Likely?": "No"}}
    )
    assert by_title.status_code == 400
    assert "no answer for question" in by_title.json()["message"]


def test_respond_random_and_admin_refresh_token(sim: Sim) -> None:
    action_id = create(sim, "Survey", SURVEY).json()["actionId"]
    made = sim.control("POST", f"actions/{action_id}/respond-random", json={"count": 5, "seed": 7})
    assert made.status_code == 200, made.text
    assert len(made.json()["responses"]) == 5
    details = sim.ok("GET", f"{G}/actions/{action_id}", params={"getDetails": "true"})
    assert 1 <= len(details["actionDetails"]["responses"]) <= 4  # one per member, edits merge
    issued = sim.control("POST", "refresh-tokens", json={"mobileNumber": "+919100000003"}).json()
    assert sim.exchange(issued["refreshToken"]).status_code == 200
    assert sim.control("POST", "refresh-tokens", json={"mobileNumber": "bad"}).status_code == 400


def test_request_log_has_one_line_per_request_and_no_secrets(
    sim: Sim, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devtools.kaizala_sim")
    refresh = sim.refresh_token()
    exchanged = sim.exchange(refresh).json()
    access = exchanged["accessToken"]
    subscribe(sim, receiver.hook("logs"), ["TextMessageCreated"])
    sim.ok("POST", f"{G}/messages", json={"message": "hi"})
    sim.api("GET", f"{G}/actions", params={"actionType": "Survey", "count": 3})
    sim.wait_deliveries()
    lines = [r.getMessage() for r in caplog.records if r.name == "devtools.kaizala_sim"]
    text = "\n".join(lines)
    for secret in (refresh, access, SAMPLE_APPLICATION_SECRET, TOKEN):
        assert secret not in text
    assert "validationToken" not in text
    assert f"GET /ep/inc-000/v1/{G}/actions 200" in lines
    request_lines = [
        line
        for line in lines
        if re.fullmatch(r"(GET|POST|PUT|DELETE) /\S* \d{3}", line) and " /_sim/" not in line
    ]
    calls = sim.control("GET", "calls").json()["calls"]
    assert sorted(request_lines) == sorted(
        f"{c['method']} {c['path']} {c['status']}" for c in calls
    )


def test_command_line_serves_and_can_skip_the_seed(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "devtools.kaizala_sim",
            "--port",
            str(port),
            "--no-seed-sample",
            "--time-scale",
            "2",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                state = httpx.get(f"http://127.0.0.1:{port}/_sim/state", timeout=1).json()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        assert state["connectors"] == []
        assert state["groups"] == []
        config = httpx.get(f"http://127.0.0.1:{port}/_sim/config", timeout=2).json()
        assert config["timeScale"] == 2.0
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert b"GET /_sim/state 200" in output
