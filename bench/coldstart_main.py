"""The cold-start part of the bench on its own: `python -m bench.coldstart_main [--runs N]`.

Starts one stack (Azurite, both simulators, the host), prepares it as `bench.run` does (connector
onboarded, webhook synced, one survey sent), then runs bench/coldstart.py. Only the
`coldstart.*` figures of --out are replaced; the other figures keep the run that measured them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.coldstart import run_coldstart
from bench.harness import RUNS, EventFactory, Sim, make_stack, prepare
from bench.partial import merge_part, print_figures

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "results.json"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart_main", description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="pairs of runs per variant")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    def say(text: str) -> None:
        print(f"[bench] {text}", flush=True)

    started = time.monotonic()
    run_dir = RUNS / ("cold-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
    run_dir.mkdir(parents=True, exist_ok=True)
    stack = make_stack("cold", run_dir)
    with stack:
        sim = Sim(stack.kaizala_url)
        try:
            prepared = prepare(stack, sim)
            factory = EventFactory(prepared)
            cold = run_coldstart(
                stack.environment(),
                stack.settings_path,
                lambda: (json.dumps(factory.event()).encode(), prepared.callback_token),
                run_dir,
                args.runs,
                say,
            )
        finally:
            sim.close()
    print_figures(merge_part(args.out, "coldstart", cold, runs=args.runs))
    say(f"wrote {args.out} in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
