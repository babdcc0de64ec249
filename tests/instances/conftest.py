"""One cluster of three host processes per test module (starting hosts is the slow part)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.azurite import Azurite
from tests.cluster import Cluster, cluster

# A short shared budget, so a burst of a few dozen sends spans several windows; Kaizala's own
# throttle on the same window (a little above the bridge's budget) must never answer 429.
BUDGET = {"KAIZALA_CALLS_PER_MINUTE": "44", "KAIZALA_THROTTLE_WINDOW_SECONDS": "3"}


@pytest.fixture(scope="module")
def hosts(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("instances")
    with cluster(azurite.connection_string, folder, **BUDGET) as running:
        assert running.kaizala is not None
        running.kaizala.config(throttleWindowSeconds=3, connectorLimitPerWindow=50)
        running.onboard()
        yield running
