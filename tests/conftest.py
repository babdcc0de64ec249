"""Suite-wide fixtures: one Azurite for the session, isolated tables per test, and a log scan.

Every log record of the whole run is kept, and at the end the run fails if any secret value
that a test registered (application secret, refresh/access/callback tokens) appears in one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from devtools.azurite import Azurite
from devtools.dataverse_sim import create_app as create_dataverse_app
from devtools.serving import ServerThread
from shared.config import Settings, reset_settings
from shared.runtime import Runtime, set_runtime

# The bridge wired to the simulators (fixtures `kaizala`, `bridge`), for every test package.
pytest_plugins = ["tests.bridge_fixtures"]

# --- secrets-in-logs check -------------------------------------------------------------------

SECRET_VALUES: set[str] = set()
_LOG_LINES: list[str] = []


class _KeepAll(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            _LOG_LINES.append(self.format(record))
        except Exception:  # a broken record must not break the scan
            _LOG_LINES.append(str(record.msg))


_handler = _KeepAll(level=logging.DEBUG)
_handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))


def register_secret(value: str | None) -> None:
    """Tests call this for every secret value they create or observe."""
    if value and len(value) >= 8:
        SECRET_VALUES.add(value)


def pytest_configure(config: pytest.Config) -> None:
    root = logging.getLogger()
    root.addHandler(_handler)
    root.setLevel(logging.DEBUG)
    # The SDKs' wire logs are huge and already redact headers; keep our own loggers at DEBUG.
    for noisy in ("azure", "httpcore", "hpack", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def leaked_secrets(extra_text: str = "") -> list[str]:
    text = "\n".join(_LOG_LINES) + extra_text
    return sorted(v[:4] + "…" for v in SECRET_VALUES if v in text)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaks = leaked_secrets()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"secret scan: {len(SECRET_VALUES)} secret values, {len(_LOG_LINES)} log lines, "
            f"{len(leaks)} leaked"
        )
    if leaks:
        if reporter is not None:
            reporter.write_line(f"SECRET VALUES FOUND IN LOGS (prefixes): {leaks}", red=True)
        session.exitstatus = 1


# --- Azurite and settings ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with Azurite() as instance:
        yield instance


def base_env(azurite: Azurite, **overrides: str) -> dict[str, str]:
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "TABLE_NAME_PREFIX": "t" + uuid.uuid4().hex[:12],
    }
    env.update(overrides)
    return env


@pytest.fixture
def env(azurite: Azurite) -> dict[str, str]:
    """Settings values for one test: its own tables in the shared Azurite."""
    return base_env(azurite)


@contextlib.asynccontextmanager
async def installed_runtime(values: dict[str, str], **options: Any) -> AsyncIterator[Runtime]:
    """A runtime for these settings, installed as the process runtime, closed afterwards."""
    rt = Runtime(Settings.from_env(values), **options)
    set_runtime(rt)
    try:
        yield rt
    finally:
        set_runtime(None)
        await rt.aclose()


@pytest.fixture
async def runtime(env: dict[str, str]) -> AsyncIterator[Runtime]:
    async with installed_runtime(env) as rt:
        yield rt


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Point the process environment at test values (for code that reads os.environ)."""

    def apply(values: dict[str, str]) -> None:
        for key in list(os.environ):
            if key.startswith(("KAIZALA_", "DATAVERSE_", "AzureWebJobsStorage")):
                monkeypatch.delenv(key, raising=False)
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        reset_settings()

    yield apply
    reset_settings()


# The Dataverse simulator, one per test session (the inbound, summary and backfill suites);
# each suite's own fixture resets its state per test.
@pytest.fixture(scope="session")
def dv_app() -> Any:
    return create_dataverse_app()


@pytest.fixture(scope="session")
def dv_server(dv_app: Any) -> Iterator[ServerThread]:
    server = ServerThread(dv_app).start()
    yield server
    server.stop()
