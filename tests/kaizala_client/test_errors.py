"""Kaizala errors are BridgeErrors: the answers a trigger gives for them, and their texts.

A trigger maps only BridgeError (functions/http.py knows no adapter), so each Kaizala error
must carry its own problem+json: 400 for a refused argument, 503 with Retry-After when
throttled, 502 otherwise, with the same details as before the errors joined the one root.
"""

from __future__ import annotations

import logging

import azure.functions as func
import pytest

from functions.http import handle_errors
from shared.adapters.kaizala import (
    KaizalaAuthError,
    KaizalaError,
    KaizalaNotFoundError,
    KaizalaRateLimitedError,
    KaizalaRedirectRefusedError,
    KaizalaServerError,
    KaizalaTransportError,
    KaizalaValidationError,
)
from shared.errors import (
    PROBLEM_BASE,
    BridgeError,
    UnavailableError,
    UpstreamError,
    ValidationError,
)
from tests.kaizala_client.fakes import ACCESS, GROUP, FakeKaizala, make_client, reply
from tests.support import body_json, request


def _answer_with(exc: BaseException) -> func.HttpResponse:
    async def send_action(req: func.HttpRequest) -> func.HttpResponse:
        raise exc

    return handle_errors(send_action)


async def _respond(exc: BaseException) -> func.HttpResponse:
    return await _answer_with(exc)(request("POST", "/api/actions"))


async def test_a_validation_error_is_a_400_with_its_message() -> None:
    exc = KaizalaValidationError("group_id is malformed (expected [A-Za-z0-9-]{1,64})")

    resp = await _respond(exc)

    assert isinstance(exc, ValidationError) and isinstance(exc, ValueError)
    assert resp.status_code == 400
    assert body_json(resp) == {
        "type": PROBLEM_BASE + "validation",
        "title": "Invalid request",
        "status": 400,
        "detail": "group_id is malformed (expected [A-Za-z0-9-]{1,64})",
        "instance": "/api/actions",
    }
    assert resp.mimetype == "application/problem+json"


async def test_throttling_is_a_503_with_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    exc = KaizalaRateLimitedError("Kaizala rate limit", retry_after=7.4, method="POST", path="/x")

    with caplog.at_level(logging.WARNING, logger="functions"):
        resp = await _respond(exc)

    assert isinstance(exc, UnavailableError) and isinstance(exc, KaizalaError)
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "7"
    assert body_json(resp) == {
        "type": PROBLEM_BASE + "unavailable",
        "title": "Service unavailable",
        "status": 503,
        "detail": "Kaizala is throttling the connector.",
        "instance": "/api/actions",
    }
    assert "send_action failed: KaizalaRateLimitedError" in caplog.text


async def test_a_short_retry_after_is_still_at_least_one_second() -> None:
    resp = await _respond(KaizalaRateLimitedError("Kaizala rate limit", retry_after=0.0))

    assert resp.headers["Retry-After"] == "1"


@pytest.mark.parametrize(
    "error",
    [
        KaizalaServerError("Kaizala server error", upstream_status=500, method="GET", path="/g"),
        KaizalaNotFoundError("Kaizala resource not found", upstream_status=404),
        KaizalaAuthError("Kaizala refused the credentials", upstream_status=401),
        KaizalaTransportError("transport error: ConnectError: refused"),
        KaizalaRedirectRefusedError("308 to a host that is not allowed", upstream_status=308),
        KaizalaError("malformed response: not JSON", upstream_status=200),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_other_kaizala_errors_are_a_502_naming_the_failure(
    error: KaizalaError, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="functions"):
        resp = await _respond(error)

    assert isinstance(error, UpstreamError)
    assert resp.status_code == 502
    assert body_json(resp) == {
        "type": PROBLEM_BASE + "upstream",
        "title": "Upstream error",
        "status": 502,
        "detail": f"Kaizala call failed: {error}",
        "instance": "/api/actions",
    }
    assert f"send_action failed: {type(error).__name__} Kaizala call failed: {error}" in (
        caplog.text
    )


async def test_a_real_failure_keeps_its_text_and_answers_with_the_bridge_status() -> None:
    client = make_client(FakeKaizala(lambda r: reply(404, {"m": "gone"}, {"request-id": "r-1"})))

    with pytest.raises(KaizalaNotFoundError) as info:
        await client.get_group(GROUP)

    exc = info.value
    text = f"Kaizala resource not found [GET /v1/groups/{GROUP}] status=404 request_id=r-1"
    assert str(exc).startswith(text)
    assert repr(exc) == f"KaizalaNotFoundError({str(exc)!r})"
    assert (exc.status, exc.upstream_status) == (502, 404)  # ours, and Kaizala's
    assert exc.detail == f"Kaizala call failed: {exc}"
    assert ACCESS not in exc.detail


def test_every_kaizala_error_is_a_bridge_error() -> None:
    for cls in (KaizalaError, KaizalaRateLimitedError, KaizalaValidationError):
        assert issubclass(cls, BridgeError)
