"""The figures of a results.json as Markdown tables (bench/README.md is built from this).

python -m bench.report [bench/results.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.stats import Figure

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = (
    ("Webhook ingestion over HTTP", "webhook.http.c"),
    ("Where an event's time goes", "webhook."),
    ("Action sending", "actions."),
    ("Throttled burst", "burst."),
    ("Cold start", "coldstart."),
    ("Soak", "soak."),
    ("Sweep scaling: the inbox", "sweeps.inbox."),
    ("Sweep scaling: actions (stale `sending`, backfill, retention)", "sweeps.sending."),
)


def _number(value: Any) -> str:
    if not isinstance(value, int | float):
        return str(value)
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _row(key: str, f: Figure) -> str:
    met = "" if "met" not in f else ("yes" if f["met"] else "**no**")
    spread = f"{_number(f['min'])}–{_number(f['max'])}" if f["runs"] > 1 else ""
    return (
        f"| `{key}` | {_number(f['median'])} | {f['unit']} | {f['runs']} | {spread} | "
        f"{f.get('aim', '')} | {met} |"
    )


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"Measured {m['date']} on {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, "
        f"Python {m['python']}, Node {m['node']}, Azurite {m['azurite']}; load average "
        f"{m['load_average_at_start']} at the start, {m.get('load_average_at_end')} at the end; "
        f"`make bench` took {results.get('duration_seconds')} s"
        + (" (quick run)" if results.get("quick") else "")
        + ".",
    ]
    src = results.get("source") or {}
    if src.get("commit"):
        changed = src.get("uncommitted_product_changes") or []
        lines.append("")
        lines.append(
            f"Code: commit `{src['commit'][:12]}`"
            + (f", with uncommitted changes to {', '.join(changed)}." if changed else ".")
        )
    figures: dict[str, Figure] = results["figures"]
    done: set[str] = set()
    for title, prefix in SECTIONS:
        keys = [k for k in figures if k.startswith(prefix) and k not in done]
        if not keys:
            continue
        done.update(keys)
        lines += [
            "",
            f"**{title}**",
            "",
            "| figure | median | unit | runs | range | aim | met |",
            "| --- | ---: | --- | ---: | --- | --- | --- |",
        ]
        lines += [_row(k, figures[k]) for k in keys]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else ROOT / "bench" / "results.json"
    print(markdown(json.loads(path.read_text(encoding="utf-8"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
