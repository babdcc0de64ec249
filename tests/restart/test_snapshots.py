"""The simulators' `--state-path` snapshots: saved at shutdown over real HTTP servers, restored
at start, and a corrupt or incompatible snapshot gives a clear message and a fresh start."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from devtools.dataverse_sim import create_app as create_dataverse_app
from devtools.dataverse_sim.state import SimState as DataverseState
from devtools.kaizala_sim import (
    SAMPLE_ADMIN,
    SAMPLE_APPLICATION_ID,
    SAMPLE_GROUP_ID,
    SimConfig,
    persist,
    tokens,
)
from devtools.kaizala_sim import create_app as create_kaizala_app
from devtools.kaizala_sim.models import Media
from devtools.kaizala_sim.simulator import Simulator
from devtools.serving import serve
from devtools.snapshot import Snapshot

OPPORTUNITY = "0d6f4a2e-1b3c-4d5e-8f90-a1b2c3d4e5f6"


def test_kaizala_state_round_trips_with_its_types() -> None:
    sim = Simulator(SimConfig())
    tokens.generate_pin(sim, SAMPLE_ADMIN, SAMPLE_APPLICATION_ID)
    token = tokens.issue_refresh_token(sim, SAMPLE_APPLICATION_ID, SAMPLE_ADMIN)
    media = Media("m1", "res-1", "site.jpg", "image/jpeg", b"\x00\xffjpeg", "http://x/m1")
    sim.state.media[media.media_id] = media
    sim.state.media_by_resource[media.resource] = media
    sim.state.move_endpoint()
    sim.clock.advance(42.5)

    saved = json.loads(json.dumps(persist.dump(sim)))  # through JSON, as on disk
    fresh = Simulator(SimConfig(seed_sample=False))
    persist.restore(fresh, saved)

    assert persist.dump(fresh) == saved
    assert fresh.state.refresh_tokens[token.token] == token
    assert fresh.state.pins.keys() == sim.state.pins.keys()  # tuple keys back
    assert fresh.state.media_by_resource["res-1"].data == b"\x00\xffjpeg"
    group = fresh.state.groups[SAMPLE_GROUP_ID]
    assert group.members[SAMPLE_ADMIN].role == "Admin"  # nested dataclasses, not dicts
    assert fresh.state.endpoint_name == sim.state.endpoint_name
    assert fresh.clock.offset == 42.5


def test_kaizala_snapshot_written_at_shutdown_and_restored(tmp_path: Path) -> None:
    path = tmp_path / "kaizala-sim.json"
    with serve(create_kaizala_app(SimConfig(), path)) as server:
        resp = httpx.post(f"{server.url}/_sim/refresh-tokens", json={})
        assert resp.status_code == 200, resp.text
        issued = resp.json()["refreshToken"]
    # The autosave interval may not have passed: the shutdown's save must have written it.
    app = create_kaizala_app(SimConfig(), path)
    assert issued in app.state.sim.state.refresh_tokens
    assert not list(tmp_path.glob(".*.tmp"))  # written through a temporary file, then renamed


def test_dataverse_snapshot_written_at_shutdown_and_restored(tmp_path: Path) -> None:
    path = tmp_path / "dataverse-sim.json"
    app = create_dataverse_app(state_path=path)
    with serve(app) as server:
        resp = httpx.post(
            f"{server.url}/_sim/opportunities", json={"id": OPPORTUNITY, "name": "Kept – deal"}
        )
        assert resp.status_code < 300, resp.text
    restored: DataverseState = create_dataverse_app(state_path=path).state.sim
    assert restored.get("opportunities", OPPORTUNITY)["name"] == "Kept – deal"


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"kind": "kaizala-sim", "version": 99, "state": {}}),
        json.dumps({"kind": "dataverse-sim", "version": 1, "state": {}}),
        json.dumps({"kind": "kaizala-sim", "version": 1, "state": {"users": []}}),
    ],
    ids=["not-json", "other-version", "other-kind", "wrong-shape"],
)
def test_unusable_kaizala_snapshot_means_a_fresh_start_and_a_clear_message(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "kaizala-sim.json"
    path.write_text(content, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="devtools.kaizala_sim"):
        app = create_kaizala_app(SimConfig(), path)
    assert SAMPLE_GROUP_ID in app.state.sim.state.groups  # the seed, not a half-loaded state
    assert not app.state.sim.state.refresh_tokens
    assert "is unusable" in caplog.text and "starting fresh" in caplog.text
    assert (tmp_path / "kaizala-sim.json.corrupt").read_text(encoding="utf-8") == content
    assert not path.exists()


def test_unusable_dataverse_snapshot_means_a_fresh_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "dataverse-sim.json"
    path.write_text(
        json.dumps({"kind": "dataverse-sim", "version": 1, "state": {"opportunities": []}}),
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING, logger="devtools.dataverse_sim"):
        sim: DataverseState = create_dataverse_app(state_path=path).state.sim
    assert sim.records()["opportunities"]  # the default seed
    assert "is unusable" in caplog.text
    assert (tmp_path / "dataverse-sim.json.corrupt").exists()


def test_save_writes_only_changes(tmp_path: Path) -> None:
    snap = Snapshot(tmp_path / "s.json", "k", 1, logging.getLogger("test"))
    assert snap.save({"a": 1}) is True
    assert snap.save({"a": 1}) is False
    assert snap.save({"a": 2}) is True
    assert json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))["state"] == {"a": 2}
