"""`python -m devtools.dataverse_sim --port N [--host 127.0.0.1] [--token T] [--state-path F]`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from devtools.dataverse_sim.app import DEFAULT_TOKEN, SimConfig, create_app
from shared.config import is_loopback_host


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.dataverse_sim", description="Local Dataverse Web API simulator."
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)"
    )
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="bearer token the Web API accepts")
    parser.add_argument(
        "--state-path",
        type=Path,
        help="keep the records in this JSON snapshot across restarts (default: in memory)",
    )
    args = parser.parse_args(argv)
    # The token is well known and the control API has no auth: never listen beyond loopback.
    if not is_loopback_host(args.host):
        parser.error("--host must be a loopback address")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app(SimConfig(token=args.token), args.state_path)
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
