"""The event samples under tests/fixtures are the published ones (when ../shared is present)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COPIES = ROOT / "tests" / "fixtures" / "events"
PUBLISHED = ROOT.parent / "shared" / "kaizala-api" / "events"


def test_event_copies_match_the_published_samples() -> None:
    copies = sorted(p.name for p in COPIES.glob("*.json"))
    assert len(copies) >= 8
    if not PUBLISHED.is_dir():
        pytest.skip("../shared/kaizala-api/events is not beside this checkout")
    assert copies == sorted(p.name for p in PUBLISHED.glob("*.json"))
    for name in copies:
        assert (COPIES / name).read_bytes() == (PUBLISHED / name).read_bytes(), name
