"""The outbound tests' bridge runs on a clock the test can move (real time plus an offset)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.runtime import Runtime
from tests.bridge_fixtures import KaizalaSim, bridge_env
from tests.conftest import installed_runtime


class ShiftedClock:
    """Real time plus an offset: the runtime's one clock, moved by the test (`offset += s`)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
async def bridge(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path, clock: ShiftedClock
) -> AsyncIterator[Runtime]:
    async with installed_runtime(bridge_env(env, kaizala, tmp_path), clock=clock) as rt:
        yield rt
