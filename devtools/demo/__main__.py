"""`python -m devtools.demo` (the `make demo` target): run the demo, print its report."""

from __future__ import annotations

import argparse
import io
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import devtools.demo
from devtools.demo.harness import DemoError
from devtools.demo.report import report_text
from devtools.demo.scenario import Demo


class Interrupted(Exception):
    """SIGTERM: stop like Ctrl-C."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Interrupted


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.demo", description=devtools.demo.__doc__
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (settings, logs) on success"
    )
    args = parser.parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")  # the report holds non-ASCII names
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="kaizala-demo-"))
    print(f"Kaizala Bridge demo: starting the stack (work directory {workdir})", flush=True)
    code = run_demo(Demo(workdir))
    if code == 1 or args.keep:  # a failure keeps the settings and logs for a look
        print(f"component logs: {workdir / 'components.log'}", flush=True)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"run time: {time.monotonic() - started:.1f} s", flush=True)
    return code


def run_demo(demo: Demo) -> int:
    """Run it, print the report, and stop everything it started, also on Ctrl-C or SIGTERM."""
    previous_int = signal.getsignal(signal.SIGINT)
    previous_term = signal.signal(signal.SIGTERM, _on_sigterm)
    started = time.monotonic()
    code = 1
    try:
        code = 0 if demo.run().ok else 1
    except (KeyboardInterrupt, Interrupted):
        print("\ninterrupted: stopping everything", flush=True)
        code = 130
    except DemoError as exc:
        print(f"\nFAILED at step '{demo.step}': {exc}{demo.stopped_components()}", flush=True)
    except Exception as exc:
        if stopped := demo.stopped_components():
            print(f"\nFAILED at step '{demo.step}': {type(exc).__name__}{stopped}", flush=True)
        else:
            print(f"\nFAILED at step '{demo.step}' unexpectedly:", flush=True)
            traceback.print_exc()
    finally:
        # A second Ctrl-C must not leave processes behind: stopping is bounded anyway.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            demo.close()
        finally:
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous_term)
    if demo.report.checks:
        print(report_text(demo.report, time.monotonic() - started), flush=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
