"""Figures: a value measured over several runs, with its unit, median and raw samples."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

Figure = dict[str, Any]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _round(value: float, digits: int) -> float:
    return round(value, digits) if math.isfinite(value) else value


def figure(
    unit: str,
    samples: Sequence[float],
    *,
    what: str,
    digits: int = 3,
    aim: str | None = None,
    met: bool | None = None,
    note: str | None = None,
) -> Figure:
    """One figure: `samples` holds one value per run; `median` is theirs."""
    values = [float(s) for s in samples]
    out: Figure = {
        "what": what,
        "unit": unit,
        "runs": len(values),
        "median": _round(statistics.median(values), digits) if values else None,
        "min": _round(min(values), digits) if values else None,
        "max": _round(max(values), digits) if values else None,
        "samples": [_round(v, digits) for v in values],
    }
    if aim is not None:
        out["aim"] = aim
        out["met"] = met
    if note:
        out["note"] = note
    return out


def latency_summary(latencies_s: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/mean/max of one run's latencies, in milliseconds."""
    ms = [v * 1000.0 for v in latencies_s]
    return {
        "count": len(ms),
        "p50_ms": _round(percentile(ms, 50), 3),
        "p90_ms": _round(percentile(ms, 90), 3),
        "p99_ms": _round(percentile(ms, 99), 3),
        "mean_ms": _round(statistics.fmean(ms), 3) if ms else math.nan,
        "max_ms": _round(max(ms), 3) if ms else math.nan,
    }


def max_in_window(timestamps: Sequence[float], window: float) -> int:
    """The most timestamps that fall in any half-open interval (t - window, t]."""
    ordered = sorted(timestamps)
    best = 0
    start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best
