"""Control API, a member acting from the Kaizala app: answering an action, or many random
members answering at once (for demos)."""

from __future__ import annotations

import random
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from devtools.kaizala_sim import domain
from devtools.kaizala_sim.answers import normalize_answers
from devtools.kaizala_sim.checks import location
from devtools.kaizala_sim.errors import bad_request, get_ci, not_found, read_json_object
from devtools.kaizala_sim.models import Action, Question
from devtools.kaizala_sim.platform_common import sim_of
from devtools.kaizala_sim.simulator import Simulator
from devtools.kaizala_sim.state import check_mobile

MAX_RANDOM_RESPONSES = 1000


def _action(sim: Simulator, action_id: str) -> Action:
    action = sim.state.actions.get(action_id)
    if action is None:
        raise not_found(f"action {action_id}")
    return action


def _duplicates(body: dict[str, Any]) -> int | None:
    value = get_ci(body, "duplicates")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise bad_request("duplicates must be a whole number from 0 to 100")
    return value


async def respond(request: Request) -> JSONResponse:
    """A group member answers an action, as if from the Kaizala app."""
    sim = sim_of(request)
    action = _action(sim, request.path_params["actionId"])
    body = await read_json_object(request)
    responder = check_mobile(get_ci(body, "responder"), "responder")
    response_id = get_ci(body, "responseId")
    if response_id is not None and not isinstance(response_id, str):
        raise bad_request("responseId must be a string")
    anonymous = get_ci(body, "isAnonymous")
    if anonymous is not None and not isinstance(anonymous, bool):
        raise bad_request("isAnonymous must be true or false")
    duplicates = _duplicates(body)
    raw_location = get_ci(body, "responseLocation")
    name = get_ci(body, "responseName")
    if name is not None and not isinstance(name, str):
        raise bad_request("responseName must be a string")
    if action.action_type == "Job":
        completed = get_ci(body, "isCompleted")
        if completed is None:
            completed = True
        if not isinstance(completed, bool):
            raise bad_request("isCompleted must be true or false")
        response, event_id = domain.record_response(
            sim,
            action,
            responder,
            is_completed=completed,
            response_id=response_id,
            duplicates=duplicates,
        )
    else:
        answers, titles = normalize_answers(sim.state, action, get_ci(body, "answers"), "answers")
        response, event_id = domain.record_response(
            sim,
            action,
            responder,
            answers=answers,
            titles=titles,
            response_id=response_id,
            anonymous=anonymous,
            name=name,
            location=None if raw_location is None else location(raw_location, "responseLocation"),
            duplicates=duplicates,
        )
    return JSONResponse({"responseId": response.response_id, "eventId": event_id})


async def respond_random(request: Request) -> JSONResponse:
    """Random plausible responses from random members, for demos."""
    sim = sim_of(request)
    action = _action(sim, request.path_params["actionId"])
    body = await read_json_object(request, optional=True)
    count = get_ci(body, "count")
    count = 1 if count is None else count
    if isinstance(count, bool) or not isinstance(count, int):
        raise bad_request("count must be a whole number")
    if not 1 <= count <= MAX_RANDOM_RESPONSES:
        raise bad_request(f"count must be between 1 and {MAX_RANDOM_RESPONSES}")
    seed = get_ci(body, "seed")
    rng = random.Random(seed if isinstance(seed, int) else None)
    group = sim.state.group(action.group_id)
    people = list(action.body["assignedTo"]) if action.action_type == "Job" else list(group.members)
    if not people:
        raise bad_request("the action's group has no one to respond")
    made = []
    for _ in range(count):
        responder = rng.choice(people)
        if action.action_type == "Job":
            response, event_id = domain.record_response(
                sim, action, responder, is_completed=rng.random() < 0.7
            )
        else:
            answers = [_random_answer(sim, q, rng) for q in action.questions] or [
                rng.choice(("Yes", "No", "Later"))
            ]
            response, event_id = domain.record_response(sim, action, responder, answers=answers)
        made.append(
            {"responseId": response.response_id, "eventId": event_id, "responder": responder}
        )
    return JSONResponse({"responses": made})


def _random_answer(sim: Simulator, question: Question, rng: random.Random) -> Any:
    kind = question.qtype
    if kind == "SingleOption":
        return rng.choice(question.options)
    if kind == "MultiOption":
        return rng.sample(question.options, rng.randint(1, len(question.options)))
    if kind == "Numeric":
        return rng.randint(1, 250_000)
    if kind in ("Date", "DateTime"):
        return sim.now_ms() + rng.randint(0, 30 * 86400) * 1000
    if kind == "Location":
        return {
            "latitude": round(rng.uniform(8.0, 30.0), 5),
            "longitude": round(rng.uniform(70.0, 88.0), 5),
            "name": f"Site {rng.randint(1, 99)}",
        }
    if kind in ("Image", "AttachmentList"):
        tag = secrets.token_hex(4)
        return [
            {
                "mediaUrl": f"https://example.invalid/att/{tag}.jpg",
                "mediaFileName": f"IMG_{tag}.jpg",
            }
        ]
    return rng.choice(("Looks promising", "Needs a follow-up call", "Customer asked for a demo"))
