"""Onboard the Kaizala connector from an admin's own machine, through the PIN flow.

    python -m devtools.onboard --mobile +919100000001 [--settings local.settings.json]

It reads the same settings as the app. With KEY_VAULT_URL set, secrets go to that Key Vault
(signed in as you: `az login`; you need the Key Vault Secrets Officer role); otherwise to the
local store. Kaizala sends a PIN by SMS (the simulator writes it to its log); type it at the
prompt. The refresh token is stored, never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from shared import onboarding
from shared.config import Settings
from shared.errors import BridgeError
from shared.kaizala import KaizalaError
from shared.runtime import Runtime


def _load_values(path: Path | None) -> None:
    if path is None or not path.is_file():
        return
    values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    for key, value in values.items():
        os.environ.setdefault(key, str(value))  # the real environment wins


async def run(mobile: str, read_pin: Callable[[str], str] = getpass.getpass) -> int:
    rt = Runtime(Settings.from_env())
    try:
        where = rt.settings.key_vault_url or rt.settings.local_secrets_path
        await onboarding.request_pin(
            rt.kaizala, rt.secrets, onboarding.PinRequest(mobileNumber=mobile)
        )
        print(f"Kaizala sent a PIN to {onboarding.masked(mobile)}.")
        pin = read_pin("PIN: ").strip()
        result = await onboarding.login(
            rt.kaizala, rt.secrets, rt.tokens, onboarding.LoginRequest(mobileNumber=mobile, pin=pin)
        )
        print(
            f"Onboarded. Refresh token stored in {where}; it expires on "
            f"{result['refreshTokenExpiresOn']}."
        )
        token = await rt.tokens.current()
        print(f"Access token obtained; Kaizala endpoint {token.endpoint_url}")
        return 0
    except (BridgeError, KaizalaError, ValueError) as exc:
        detail = exc.detail if isinstance(exc, BridgeError) else str(exc)
        print(f"Onboarding failed: {detail}", file=sys.stderr)
        return 1
    finally:
        await rt.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.onboard",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--mobile", required=True, help="the admin's number, E.164 (+91...)")
    parser.add_argument("--settings", type=Path, default=Path("local.settings.json"))
    args = parser.parse_args(argv)
    _load_values(args.settings)
    return asyncio.run(run(args.mobile))


if __name__ == "__main__":
    raise SystemExit(main())
