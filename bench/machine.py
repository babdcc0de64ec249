"""What the figures were measured on."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def _nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 0


def _command(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv
            argv, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def describe() -> dict[str, Any]:
    azurite_version = None
    package = ROOT / "node_modules" / "azurite" / "package.json"
    if package.is_file():
        azurite_version = json.loads(package.read_text(encoding="utf-8")).get("version")
    return {
        "nproc": _nproc(),
        "cpu_model": _cpu_model(),
        "memory_gib": _mem_total_gib(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "node": _command(["node", "--version"]),
        "azurite": azurite_version,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": load_average(),
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
    }


def source() -> dict[str, Any]:
    """Which code was measured: the commit, and the product files that differ from it."""
    commit = _command(["git", "-C", str(ROOT), "rev-parse", "HEAD"])
    status = _command(
        [
            "git",
            "-C",
            str(ROOT),
            "status",
            "--porcelain",
            "--",
            "function_app.py",
            "functions",
            "shared",
            "devtools",
            "templates",
            "host.json",
            "requirements.txt",
        ]
    )
    return {
        "commit": commit,
        "uncommitted_product_changes": [
            line.split(None, 1)[1] for line in (status or "").splitlines() if line.strip()
        ],
    }
