"""`python -m devtools.kaizala_sim --port 8090`: run the simulator in the foreground."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from pathlib import Path

import uvicorn

from devtools.kaizala_sim import create_app
from devtools.kaizala_sim.config import SimConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.kaizala_sim", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="divide token, PIN and retry lifetimes by this (86400: a day per second)",
    )
    parser.add_argument(
        "--seed-sample",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="seed the sample connector and the Sales Team group (default: on)",
    )
    parser.add_argument(
        "--state-path",
        type=Path,
        help="keep the tenant in this JSON snapshot across restarts (default: in memory)",
    )
    args = parser.parse_args(argv)
    if args.time_scale <= 0:
        parser.error("--time-scale must be > 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # httpx logs full URLs (callback URLs with validation tokens) at INFO: not in this log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not _is_loopback(args.host):
        logging.getLogger("devtools.kaizala_sim").warning(
            "listening on %s: the control API has no authentication", args.host
        )
    config = SimConfig(
        host=args.host, port=args.port, time_scale=args.time_scale, seed_sample=args.seed_sample
    )
    # uvicorn's access log would print query strings; the simulator logs each request itself.
    app = create_app(config, args.state_path)
    uvicorn.run(app, host=args.host, port=args.port, access_log=False)
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":
    sys.exit(main())
