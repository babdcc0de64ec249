"""The Dataverse simulator's records as JSON: what `--state-path` saves and restores.

Saved: opportunities, systemusers and contacts, activities (tasks, phonecalls) and notes, and
the version counter (ETags stay increasing). Not saved: faults, the down switch, statistics.
"""

from __future__ import annotations

from typing import Any

from devtools.dataverse_sim.state import SimState

KIND = "dataverse-sim"
VERSION = 1


def dump(sim: SimState) -> dict[str, Any]:
    return sim.records()


def restore(sim: SimState, data: dict[str, Any]) -> None:
    """Check the shape first, so a bad snapshot changes nothing (and the caller starts fresh)."""
    for name in ("opportunities", "annotations"):
        _rows(data[name], name)
    for group in ("people", "activities"):
        sets = data[group]
        if not isinstance(sets, dict):
            raise TypeError(f"{group}: expected an object")
        for name, rows in sets.items():
            _rows(rows, f"{group}.{name}")
    version = data["version"]
    if isinstance(version, bool) or not isinstance(version, int):
        raise TypeError("version must be an integer")
    sim.load_records(data)


def _rows(rows: Any, what: str) -> None:
    if not isinstance(rows, dict) or not all(isinstance(r, dict) for r in rows.values()):
        raise TypeError(f"{what}: expected an object of rows")
