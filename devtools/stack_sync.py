"""What `make run` does once the host is up: say where the simulator's PIN is while the
connector is not onboarded, and sync the Kaizala webhook subscriptions once as soon as it is
(the same `POST /api/manage/webhooks/sync` an operator would call; the local host needs no
key), so that responses arrive without waiting for the hourly timer.

Health is read once at start and then only after the host logs a login or a token renewal
(polling it would add an invocation line to the log every few seconds).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx

from devtools.kaizala_sim import SAMPLE_ADMIN

CHECK_EVERY_SECONDS = 2.0
CHECKS_AFTER_EVENT = 5  # a renewal's lease row may land just after its log line
# Host log lines after which the connector may have become onboarded.
ONBOARDING_EVENTS = ("function=kaizala_login ", "function=renew_kaizala_token ")


def pin_line(kaizala_port: int, mobile: str = SAMPLE_ADMIN) -> str:
    url = f"http://127.0.0.1:{kaizala_port}/_sim/pin?mobileNumber={quote(mobile, safe='')}"
    return (
        f"PIN for {mobile}: after POST /api/manage/kaizala/pin, the simulator logs "
        f"`PIN for {mobile} : NNNN` below, and {url} answers it."
    )


def stale_secrets_warning(state_dir: Path | None, secrets_path: Path) -> str | None:
    """A warning when the secret store holds a refresh token that the Kaizala simulator cannot
    know: it has no saved state (a `.local/` from before state was kept, or partly deleted)."""
    if state_dir is None or (state_dir / "kaizala-sim.json").exists():
        return None
    try:
        names = json.loads(secrets_path.read_text(encoding="utf-8"))  # names only, no values
    except (OSError, ValueError):
        return None
    if not isinstance(names, dict) or "kaizala-refresh-token" not in names:
        return None
    return (
        f"{secrets_path} holds a refresh token but the Kaizala simulator has no saved state in "
        f"{state_dir}: its renewals will fail until you onboard again (or stop, `make reset`, "
        "start)"
    )


@dataclass
class FirstSync:
    host_port: int
    kaizala_port: int
    say: Callable[[str], None]
    clock: Callable[[], float] = time.monotonic
    done: bool = False
    _next_check: float = 0.0
    _checks_left: int = 1  # the first check, at start
    _told_pin: bool = False
    _http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10.0))

    def notice(self, component: str, line: str) -> None:
        """Every output line of the stack (from the reader threads: only sets a counter)."""
        if component == "host" and any(event in line for event in ONBOARDING_EVENTS):
            self._checks_left = CHECKS_AFTER_EVENT

    def poll(self) -> None:
        """Call often; checks the health when due until the sync is done."""
        if self.done or self._checks_left <= 0 or self.clock() < self._next_check:
            return
        self._next_check = self.clock() + CHECK_EVERY_SECONDS
        self._checks_left -= 1
        host = f"http://127.0.0.1:{self.host_port}"
        try:
            status = self._http.get(f"{host}/api/health").json().get("status")
        except (httpx.HTTPError, ValueError, AttributeError):
            self._checks_left = max(self._checks_left, 1)  # restarting: try again later
            return
        if status != "ok":
            # `warn` is also what an expiring refresh token gives: the PIN flow fixes both.
            if not self._told_pin:
                self.say(f"not onboarded yet (health {status}). {pin_line(self.kaizala_port)}")
                self._told_pin = True
            return
        try:
            resp = self._http.post(f"{host}/api/manage/webhooks/sync", json={})
        except httpx.HTTPError as exc:
            self.say(f"webhook sync failed ({type(exc).__name__}); retrying")
            self._checks_left = max(self._checks_left, 1)
            return
        self.done = True
        if resp.status_code != 200:
            self.say(
                f"webhook sync answered {resp.status_code} (POST /api/manage/webhooks/sync "
                f"to retry): {resp.text[:300]}"
            )
            return
        groups = resp.json().get("groups", [])
        outcome = ", ".join(
            f"{g.get('groupId')}: {'/'.join(g.get('actions') or ['ok']) or 'ok'}" for g in groups
        )
        self.say(f"onboarded; webhook subscriptions synced ({outcome or 'no groups'})")

    def close(self) -> None:
        self._http.close()
