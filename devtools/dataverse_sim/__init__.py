"""A local, in-memory stand-in for the Dataverse Web API (tasks, phonecalls, opportunities).

See README.md in this folder for the supported subset and the `/_sim/` control API.
"""

from devtools.dataverse_sim.app import API_PREFIX, DEFAULT_TOKEN, SimConfig, create_app
from devtools.dataverse_sim.faults import Fault
from devtools.dataverse_sim.odata import ODataError
from devtools.dataverse_sim.state import SimState
from devtools.dataverse_sim.tables import DEFAULT_OPPORTUNITIES

__all__ = [
    "API_PREFIX",
    "DEFAULT_OPPORTUNITIES",
    "DEFAULT_TOKEN",
    "Fault",
    "ODataError",
    "SimConfig",
    "SimState",
    "create_app",
]
