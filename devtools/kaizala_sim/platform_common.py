"""What every platform call does first: authenticate the access token, then count it against
the throttle. (The endpoint check and 308s happen earlier, in the middleware.)"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from devtools.kaizala_sim import tokens
from devtools.kaizala_sim.models import Connector, Group, User
from devtools.kaizala_sim.simulator import Simulator


@dataclass
class Caller:
    sim: Simulator
    user: User
    connector: Connector

    def member_group(self, group_id: str) -> Group:
        group = self.sim.state.group(group_id)
        self.sim.state.require_member(group, self.user.mobile)
        return group


def sim_of(request: Request) -> Simulator:
    sim: Simulator = request.app.state.sim
    return sim


def caller(request: Request) -> Caller:
    sim = sim_of(request)
    access = tokens.authenticate(sim, request.headers.get("accessToken"))
    connector = sim.state.connectors[access.application_id]
    tokens.throttle(sim, connector)
    return Caller(sim, sim.state.user(access.mobile), connector)


def base_url(request: Request) -> str:
    """Scheme, host and port as the client addressed us, with a trailing slash."""
    return str(request.base_url)
