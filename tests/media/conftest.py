"""The media tests' bridge takes files up to 64 KiB, so the limits are cheap to cross."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.runtime import Runtime
from tests.bridge_fixtures import KaizalaSim, bridge_env
from tests.conftest import installed_runtime

LIMIT = 64 * 1024


@pytest.fixture
async def bridge(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path
) -> AsyncIterator[Runtime]:
    values = bridge_env(env, kaizala, tmp_path, MEDIA_MAX_BYTES=str(LIMIT))
    async with installed_runtime(values) as rt:
        yield rt
