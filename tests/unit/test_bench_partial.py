"""A bench part run alone replaces only its own figures in results.json."""

from __future__ import annotations

import json
from pathlib import Path

from bench.partial import merge_part


def test_a_part_replaces_its_own_figures_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    old = {"figures": {"webhook.ratio": {"median": 2}, "sweeps.old": {"median": 1}}, "x": 1}
    path.write_text(json.dumps(old), encoding="utf-8")
    mine = merge_part(path, "sweeps", {"figures": {"sweeps.new": {"median": 3}}, "n": 5}, quick=1)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert mine == {"sweeps.new": {"median": 3}}
    assert saved["figures"] == {"webhook.ratio": {"median": 2}, "sweeps.new": {"median": 3}}
    assert saved["x"] == 1
    details = saved["details"]["sweeps"]
    assert (details["n"], details["quick"]) == (5, 1)
    assert {"machine", "source"} <= set(details)


def test_a_part_starts_a_missing_results_file(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    merge_part(path, "backlog", {"figures": {"backlog.drain_ratio": {"median": 0.6}}})
    assert json.loads(path.read_text(encoding="utf-8"))["figures"] == {
        "backlog.drain_ratio": {"median": 0.6}
    }
