"""An in-memory simulator of the retired Microsoft Kaizala connector API, over real HTTP.

See README.md beside this file for the routes, the control API and the seeded sample data.
"""

from devtools.kaizala_sim.app import create_app
from devtools.kaizala_sim.config import SimConfig
from devtools.kaizala_sim.simulator import Simulator
from devtools.kaizala_sim.state import (
    SAMPLE_ADMIN,
    SAMPLE_APPLICATION_ID,
    SAMPLE_APPLICATION_SECRET,
    SAMPLE_GROUP_ID,
    SAMPLE_MEMBERS,
)

__all__ = [
    "SAMPLE_ADMIN",
    "SAMPLE_APPLICATION_ID",
    "SAMPLE_APPLICATION_SECRET",
    "SAMPLE_GROUP_ID",
    "SAMPLE_MEMBERS",
    "SimConfig",
    "Simulator",
    "create_app",
]
