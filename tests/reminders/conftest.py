"""The reminder tests' bridge: the outbound tests' movable clock, and its settings at hand.

`values` are the bridge's settings, so a test can start a second instance (another Runtime on
the same tables, secret file and simulator), as a scaled-out Function app would run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.runtime import Runtime
from tests.bridge_fixtures import KaizalaSim, bridge_env
from tests.conftest import installed_runtime
from tests.outbound.conftest import ShiftedClock


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def values(env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path) -> dict[str, str]:
    return bridge_env(env, kaizala, tmp_path)


@pytest.fixture
async def bridge(values: dict[str, str], clock: ShiftedClock) -> AsyncIterator[Runtime]:
    async with installed_runtime(values, clock=clock) as rt:
        yield rt
