"""Onboard the Kaizala connector from an admin's own machine, through the PIN flow.

    python -m devtools.onboard --mobile +919100000001 [--settings local.settings.json]

Settings come from the environment (and from `--settings FILE` `Values` when given; the real
environment wins). With KEY_VAULT_URL set, the refresh token goes to that Key Vault (signed in
as you: `az login`; you need the Key Vault Secrets Officer role, which infra grants the
deploying user); otherwise to the local store. The vault must already hold
`kaizala-application-id` and `-secret` (or set KAIZALA_APPLICATION_ID/_SECRET to seed them).
No table storage is needed: the app picks the new refresh token up at its next renewal.
Kaizala sends a PIN by SMS (the simulator writes it to its log); type it at the prompt. The
refresh token is stored, never printed.
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

from shared.adapters.kaizala import KaizalaError
from shared.config import Settings
from shared.errors import BridgeError
from shared.runtime import Runtime
from shared.services import onboarding


def _load_values(path: Path | None) -> None:
    if path is None:
        return
    if not path.is_file():
        raise SystemExit(f"{path} not found")
    values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    for key, value in values.items():
        os.environ.setdefault(key, str(value))  # the real environment wins


async def run(mobile: str, read_pin: Callable[[str], str] = getpass.getpass) -> int:
    env = dict(os.environ)
    # Only secrets and Kaizala are used here; storage settings are not needed on an admin's
    # machine, so a placeholder satisfies the settings check without ever being contacted.
    env.setdefault("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    rt = Runtime(Settings.from_env(env))
    try:
        where = rt.settings.key_vault_url or rt.settings.local_secrets_path
        await onboarding.request_pin(
            rt.kaizala, rt.secrets, onboarding.PinRequest(mobileNumber=mobile)
        )
        print(f"Kaizala sent a PIN to {onboarding.masked(mobile)}.")
        pin = read_pin("PIN: ").strip()
        result = await onboarding.login(
            rt.kaizala, rt.secrets, None, onboarding.LoginRequest(mobileNumber=mobile, pin=pin)
        )
        print(
            f"Onboarded. Refresh token stored in {where}; it expires on "
            f"{result['refreshTokenExpiresOn']}. The app uses it from its next token renewal."
        )
        return 0
    except KaizalaError as exc:  # also a BridgeError: its own text, as before, not the API detail
        print(f"Onboarding failed: {exc}", file=sys.stderr)
        return 1
    except (BridgeError, ValueError) as exc:
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
    parser.add_argument("--settings", type=Path, help="a local.settings.json to read Values from")
    args = parser.parse_args(argv)
    _load_values(args.settings)
    return asyncio.run(run(args.mobile))


if __name__ == "__main__":
    raise SystemExit(main())
