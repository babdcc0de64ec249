"""The event samples under tests/fixtures are the published ones (when ../shared is present)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COPIES = ROOT / "tests" / "fixtures" / "events"
PUBLISHED = ROOT.parent / "shared" / "kaizala-api" / "events"


def test_event_copies_match_the_published_samples() -> None:
    copies = sorted(p.name for p in COPIES.glob("*.json"))
    assert len(copies) >= 8
    if not PUBLISHED.is_dir():
        # CI always has the published material beside the clone: there a missing copy fails.
        if os.environ.get("CI"):
            pytest.fail("../shared/kaizala-api/events is missing (CI must lay it there)")
        pytest.skip(
            "../shared/kaizala-api/events is not beside this checkout, so the copies "
            "cannot be compared here (a worktree elsewhere); CI compares them"
        )
    assert copies == sorted(p.name for p in PUBLISHED.glob("*.json"))
    for name in copies:
        assert (COPIES / name).read_bytes() == (PUBLISHED / name).read_bytes(), name
