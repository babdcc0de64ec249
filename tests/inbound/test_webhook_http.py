"""The webhook's HTTP surface: validation echo, callback-token checks, size and shape limits."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Any

import azure.functions as func

from devtools.serving import free_port
from shared.config import Settings
from shared.runtime import Runtime, set_runtime
from shared.services.callback_tokens import CallbackTokens
from tests.conftest import register_secret
from tests.inbound.conftest import Clock, encode, post_event, rows, sample, survey_event
from tests.support import body_json, call


def validation_request(query: str, params: dict[str, str]) -> func.HttpRequest:
    # As the host hands it over: the raw query in the URL, decoded values in `params`.
    return func.HttpRequest(
        method="GET",
        url=f"http://localhost:7071/api/kaizala/webhook{query}",
        headers={},
        params=params,
        route_params={},
        body=b"",
    )


# ---- validation handshake --------------------------------------------------------------------


async def test_validation_echo_decodes_once_and_answers_plain_text() -> None:
    req = validation_request(
        "?validationToken=a%2Bb%2Fc%3D%20d%25", {"validationToken": "a+b/c= d%"}
    )
    resp = await call("kaizala_webhook_validate", req)
    assert resp.status_code == 200
    assert resp.get_body() == b"a+b/c= d%"
    assert resp.mimetype == "text/plain"
    assert resp.charset == "utf-8"
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_validation_echo_of_markup_stays_text() -> None:
    token = "<script>alert(1)</script>"
    req = validation_request(
        "?validationToken=%3Cscript%3Ealert(1)%3C%2Fscript%3E", {"validationToken": token}
    )
    resp = await call("kaizala_webhook_validate", req)
    assert resp.status_code == 200
    assert resp.get_body() == token.encode()
    assert "html" not in resp.mimetype
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_validation_token_from_params_when_the_url_has_no_query() -> None:
    resp = await call(
        "kaizala_webhook_validate", validation_request("", {"validationToken": "x+y"})
    )
    assert resp.get_body() == b"x+y"


async def test_validation_without_token_is_400_problem() -> None:
    for query in ("", "?validationToken=", "?other=1"):
        resp = await call("kaizala_webhook_validate", validation_request(query, {}))
        assert resp.status_code == 400
        assert resp.mimetype == "application/problem+json"
        assert "validationToken" in body_json(resp)["detail"]


# ---- callback token --------------------------------------------------------------------------


async def test_valid_token_accepts_and_stores(rt: Runtime, token: str) -> None:
    event = sample("text_message_created")
    resp = await post_event(event, token)
    assert resp.status_code == 200
    assert body_json(resp) == {"status": "ignored", "eventId": event["eventId"]}
    stored = await rows(rt.tables)
    assert [(r["eventId"], r["status"], r["PartitionKey"]) for r in stored] == [
        (event["eventId"], "ignored", "noaction")
    ]


async def test_bad_missing_wrong_length_and_non_ascii_tokens_are_401(
    rt: Runtime, token: str
) -> None:
    same_length = secrets.token_urlsafe(32)
    register_secret(same_length)
    presented: list[str | None] = [
        None,
        "",
        same_length,
        token[:-1],
        token + "A",
        token[:-1] + "é",
        "x" * 10_000,
    ]
    for value in presented:
        resp = await post_event(survey_event("a-1"), value)
        assert resp.status_code == 401, value
        assert resp.mimetype == "application/problem+json"
    assert await rows(rt.tables) == []


async def test_token_is_checked_before_size_and_shape(rt: Runtime, token: str) -> None:
    for body in (b"x" * (1024 * 1024 + 1), b"not json"):
        assert (await post_event(body, "wrong-token-value")).status_code == 401
    assert await rows(rt.tables) == []


class CountingStore:
    """The secret store's interface, counting reads of the callback-token versions."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.version_reads = 0

    async def versions(self, name: str, limit: int) -> Any:
        self.version_reads += 1
        return await self.inner.versions(name, limit)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_hot_path_does_not_read_the_secret_store(rt: Runtime, token: str) -> None:
    store = CountingStore(rt.secrets)
    callbacks = CallbackTokens(store, grace_hours=48)
    assert await callbacks.verify(token)
    assert store.version_reads == 1  # the first use loads the versions once
    for _ in range(20):
        assert await callbacks.verify(token)
    # A flood of forged tokens: at most one reload per 30 s.
    for _ in range(50):
        assert not await callbacks.verify("forged-token-" + "x" * 30)
    assert store.version_reads <= 2


async def test_previous_token_within_and_after_grace(rt: Runtime, token: str) -> None:
    clock = Clock(time.time())
    callbacks = CallbackTokens(rt.secrets, grace_hours=48, clock=clock)
    rt.callbacks = callbacks  # type: ignore[misc]
    new = await callbacks.rotate()
    register_secret(new)
    assert new != token
    clock.advance(47 * 3600)
    assert (await post_event(survey_event("a-1"), new)).status_code == 200
    assert (await post_event(survey_event("a-1"), token)).status_code == 200
    clock.advance(2 * 3600)  # 49 h after the rotation: the grace period is over
    assert (await post_event(survey_event("a-1"), new)).status_code == 200
    assert (await post_event(survey_event("a-1"), token)).status_code == 401
    assert len(await rows(rt.tables)) == 3


async def test_rotation_in_another_instance_is_picked_up(rt: Runtime, token: str) -> None:
    clock = Clock(time.time())
    here = CallbackTokens(rt.secrets, grace_hours=48, clock=clock)
    there = CallbackTokens(rt.secrets, grace_hours=48, clock=clock)
    assert await here.verify(token)
    new = await there.rotate()
    register_secret(new)
    # Within the reload interval a mismatch does not read the store again ...
    assert not await here.verify(new)
    clock.advance(31)
    # ... after it, one read picks up the new version; the old one is still in its grace.
    assert await here.verify(new)
    assert await here.verify(token)


async def test_ensure_creates_once(rt: Runtime) -> None:
    first = await rt.callbacks.ensure()
    register_secret(first)
    assert len(first) >= 43
    assert await rt.callbacks.ensure() == first
    versions = await rt.secrets.versions("kaizala-callback-token")
    assert len(versions) == 1


# ---- size and shape --------------------------------------------------------------------------


async def test_oversize_event_is_413_and_not_stored(rt: Runtime, token: str) -> None:
    event = survey_event("a-1")
    event["data"]["padding"] = "x" * (1024 * 1024)
    resp = await post_event(event, token)
    assert resp.status_code == 413
    assert resp.mimetype == "application/problem+json"
    assert await rows(rt.tables) == []


async def test_large_event_under_the_limit_is_kept_compressed(rt: Runtime, token: str) -> None:
    event = sample("text_message_created")
    event["eventId"] = str(uuid.uuid4())
    event["data"]["text"] = "word " * 180_000  # ~900 KB: over a single property's 64 KiB
    assert (await post_event(event, token)).status_code == 200
    assert (await rows(rt.tables))[0]["status"] == "ignored"


async def test_malformed_bodies_are_400_and_not_stored(rt: Runtime, token: str) -> None:
    no_id = sample("survey_response")
    del no_id["eventId"]
    no_type = sample("survey_response")
    no_type["eventType"] = ""
    bodies = [b"", b"not json", b"[1, 2]", b'"text"', b"\xff\xfe\x00", encode(no_id)]
    bodies.append(encode(no_type))
    for body in bodies:
        resp = await post_event(body, token)
        assert resp.status_code == 400, body[:20]
        assert resp.mimetype == "application/problem+json"
    assert await rows(rt.tables) == []


async def test_storage_down_is_503_with_retry_after(inbound_env: dict[str, str]) -> None:
    # Same secrets (so the token is valid), tables at a port where nothing listens.
    port = free_port()
    conn = inbound_env["AzureWebJobsStorage"]
    parts = dict(p.split("=", 1) for p in conn.split(";") if p)
    parts["TableEndpoint"] = f"http://127.0.0.1:{port}/devstoreaccount1"
    env = {**inbound_env, "AzureWebJobsStorage": ";".join(f"{k}={v}" for k, v in parts.items())}
    runtime = Runtime(Settings.from_env(env))
    set_runtime(runtime)
    try:
        value = await runtime.callbacks.ensure()
        register_secret(value)
        resp = await post_event(survey_event("a-1"), value)
        assert resp.status_code == 503
        assert int(resp.headers["Retry-After"]) >= 1
        assert "AccountKey" not in resp.get_body().decode()
        assert json.loads(resp.get_body())["status"] == 503
    finally:
        set_runtime(None)
        await runtime.aclose()
