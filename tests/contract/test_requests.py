"""Every operation of the swagger: the request the client builds validates against the
operation's parameters and body schema, the simulator accepts it, and a documented answer
schema holds for what it answers."""

from __future__ import annotations

import pytest

from tests.contract.cases import CASES, Case
from tests.contract.conftest import World
from tests.contract.swagger import operations, request_errors, response_errors


def test_every_operation_of_the_swagger_has_a_case() -> None:
    in_swagger = sorted(operations())
    assert len(in_swagger) == 28
    assert sorted(c.operation for c in CASES) == in_swagger


@pytest.mark.parametrize("case", CASES, ids=[c.operation for c in CASES])
async def test_the_client_request_validates_against_the_swagger(world: World, case: Case) -> None:
    _, sent = await case.run(world)

    assert request_errors(case.operation, sent, documented_query=case.documented_query) == []
    assert 200 <= sent.status < 300, sent.answer
    assert response_errors(case.operation, sent) == []
