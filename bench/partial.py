"""One part of the bench run on its own (`python -m bench.sweeps`, `bench.coldstart_main`,
`bench.backlog --merge`): its figures replace only that part's in results.json, the others keep
the run that measured them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import machine
from bench.stats import Figure


def merge_part(path: Path, part: str, result: dict[str, Any], **extra: Any) -> dict[str, Figure]:
    """Write `result` (its "figures" and the rest as details) as part `part` of `path`; the
    figures named `<part>.` are replaced, every other key is kept. Returns the part's figures."""
    results: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    prefix = f"{part}."
    mine = dict(result["figures"])
    figures = {k: v for k, v in results.get("figures", {}).items() if not k.startswith(prefix)}
    figures.update(mine)
    results["figures"] = figures
    results.setdefault("details", {})[part] = {
        **{k: v for k, v in result.items() if k != "figures"},
        "machine": machine.describe(),
        "source": machine.source(),
        **extra,
    }
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return mine


def print_figures(figures: dict[str, Figure]) -> None:
    for key, f in figures.items():
        met = "" if "met" not in f else ("  met" if f["met"] else "  NOT MET")
        print(f"{key:52} {f['median']!s:>10} {f['unit']}{met}")
