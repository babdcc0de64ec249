"""The client's rules: redirects, host allow-list, throttling, retries, 401 refresh, ids."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from shared.adapters.kaizala import (
    KaizalaAuthError,
    KaizalaBadRequestError,
    KaizalaClient,
    KaizalaEndpointRefusedError,
    KaizalaError,
    KaizalaNotFoundError,
    KaizalaRateLimitedError,
    KaizalaRedirectRefusedError,
    KaizalaServerError,
    KaizalaTransportError,
    KaizalaValidationError,
    RateLimiter,
    base_from_location,
    is_token_destination,
)
from tests.kaizala_client.fakes import (
    ACCESS,
    ACCESS_2,
    ACTION,
    GROUP,
    WEBHOOK,
    FakeKaizala,
    FakeTime,
    FakeTokens,
    make_client,
    reply,
)

MESSAGE_PATH = f"/v1/groups/{GROUP}/messages"


# --- 308 and the host allow-list --------------------------------------------------------------


async def test_308_is_followed_persisted_and_later_calls_use_the_new_base() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "kms2.kaiza.la":
            return httpx.Response(
                308, headers={"Location": f"https://kms3.kaiza.la{request.url.path}"}
            )
        if request.url.path == MESSAGE_PATH:
            return httpx.Response(200, json={"referenceId": "ref-1"})
        return httpx.Response(200, json={"groups": []})

    kaizala = FakeKaizala(handler)
    tokens = FakeTokens()
    original = tokens.token
    client = make_client(kaizala, tokens)

    result = await client.send_message(GROUP, "moved?")

    assert result.referenceId == "ref-1"
    assert kaizala.hosts == ["kms2.kaiza.la", "kms3.kaiza.la"]
    first, second = kaizala.requests
    assert second.method == "POST"
    assert second.url.path == MESSAGE_PATH
    assert second.content == first.content  # same body re-sent
    assert second.headers["accessToken"] == ACCESS
    assert tokens.moved == [(original, "https://kms3.kaiza.la/")]

    await client.list_groups()

    assert kaizala.hosts[2:] == ["kms3.kaiza.la"]  # straight to the new base, no second 308


async def test_308_relative_location_with_path_prefix() -> None:
    replies = [
        httpx.Response(308, headers={"Location": f"/kms/v1/groups/{GROUP}"}),
        httpx.Response(200, json={"groupId": GROUP}),
    ]
    kaizala = FakeKaizala(replies)
    tokens = FakeTokens()
    client = make_client(kaizala, tokens)

    await client.get_group(GROUP)

    assert str(kaizala.requests[1].url) == f"https://kms2.kaiza.la/kms/v1/groups/{GROUP}"
    assert tokens.moved[0][1] == "https://kms2.kaiza.la/kms/"


@pytest.mark.parametrize(
    "location",
    [
        "https://evil.example.com/v1/groups/x/messages",
        "https://kms3.kaiza.la.evil.example.com/v1/groups/x/messages",
        "https://kaiza.la.evil/v1/groups/x/messages",
        "http://kms3.kaiza.la/v1/groups/x/messages",  # right host, but plain http
        "https://user:pw@kms3.kaiza.la/v1/groups/x/messages",
        "http://127.0.0.1:9/v1/groups/x/messages",  # loopback, but not an allowed host
    ],
)
async def test_308_outside_the_allow_list_is_refused_and_nothing_reaches_it(location: str) -> None:
    kaizala = FakeKaizala(lambda request: httpx.Response(308, headers={"Location": location}))
    tokens = FakeTokens()
    client = make_client(kaizala, tokens)

    with pytest.raises(KaizalaRedirectRefusedError) as info:
        await client.send_message(GROUP, "hello")

    assert kaizala.hosts == ["kms2.kaiza.la"]  # the only request, to the trusted endpoint
    assert tokens.moved == []
    assert info.value.upstream_status == 308
    assert ACCESS not in str(info.value)


async def test_redirects_are_bounded() -> None:
    counter = iter(range(100))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            308, headers={"Location": f"https://kms{next(counter)}.kaiza.la/v1/groups"}
        )

    kaizala = FakeKaizala(handler)
    client = make_client(kaizala, max_redirects=3)

    with pytest.raises(KaizalaRedirectRefusedError, match="more than 3 redirects"):
        await client.list_groups()

    assert len(kaizala.requests) == 4  # the original and three followed hops


async def test_http_endpoint_on_a_non_loopback_host_is_refused_before_any_request() -> None:
    kaizala = FakeKaizala()
    client = make_client(kaizala, FakeTokens(endpoint="http://kms2.kaiza.la/"))

    with pytest.raises(KaizalaEndpointRefusedError):
        await client.list_groups()

    assert kaizala.requests == []


async def test_http_endpoint_on_loopback_is_allowed_for_the_simulator() -> None:
    kaizala = FakeKaizala(lambda request: reply(200, []))
    client = make_client(kaizala, FakeTokens(endpoint="http://127.0.0.1:8123/"))

    await client.list_groups()

    assert str(kaizala.requests[0].url) == "http://127.0.0.1:8123/v1/groups"


async def test_the_token_service_endpoint_host_is_trusted_even_outside_the_patterns() -> None:
    kaizala = FakeKaizala(lambda request: reply(200, []))
    tokens = FakeTokens(endpoint="https://inc-000.KaizalaMessaging.osi.office.net")
    client = make_client(kaizala, tokens)

    await client.list_groups()

    assert kaizala.hosts == ["inc-000.kaizalamessaging.osi.office.net"]


def test_api_root_must_be_https_unless_loopback() -> None:
    with pytest.raises(ValueError, match="https"):
        make_client(FakeKaizala(), api_root="http://api.kaiza.la/v1")
    make_client(FakeKaizala(), api_root="http://localhost:7071/v1")


@pytest.mark.parametrize(
    ("url", "endpoint_host", "allowed"),
    [
        ("https://kms2.kaiza.la/v1/x", None, True),
        ("https://KMS2.Kaiza.La./v1/x", None, True),
        ("https://kaiza.la/v1/x", None, False),  # `*.kaiza.la` needs a subdomain
        ("https://kaiza.la.evil.com/", None, False),
        ("https://other.example/", "other.example", True),
        ("http://other.example/", "other.example", False),
        ("http://[::1]:8080/", "::1", True),
        ("http://localhost:8080/", "localhost", True),
        ("https://a.kaiza.la@evil.com/", None, False),
        ("not a url", None, False),
    ],
)
def test_is_token_destination(url: str, endpoint_host: str | None, allowed: bool) -> None:
    assert is_token_destination(url, ("*.kaiza.la",), endpoint_host) is allowed


@pytest.mark.parametrize(
    ("location", "rel", "base"),
    [
        (
            "https://kms3.kaiza.la/v1/groups/g/messages",
            "groups/g/messages",
            "https://kms3.kaiza.la/",
        ),
        ("https://h/p/v1/groups/v1/messages", "groups/v1/messages", "https://h/p/"),
        ("https://h/p/v1/webhook?x=1", "groups", "https://h/p/"),
        ("https://h/nothing-here", "groups", None),
    ],
)
def test_base_from_location(location: str, rel: str, base: str | None) -> None:
    assert base_from_location(location, rel) == base


# --- 429 -----------------------------------------------------------------------------------------


async def test_429_pauses_the_limiter_for_retry_after_then_succeeds() -> None:
    time = FakeTime()
    limiter = RateLimiter(100, 60, clock=time.clock, sleep=time.sleep)
    replies = [reply(429, {"error": "slow down"}, {"Retry-After": "7"}), reply(200, [])]
    kaizala = FakeKaizala(replies, time=time)
    client = make_client(kaizala, time=time, limiter=limiter)

    paused_during: list[bool] = []
    original_pause = limiter.pause_for

    def spy(seconds: float) -> None:
        original_pause(seconds)
        paused_during.append(limiter.paused_until == time.now + seconds)
        paused_during.append(limiter.try_acquire() is False)  # everyone else is held too

    limiter.pause_for = spy  # type: ignore[method-assign]

    assert await client.list_groups() == []

    assert kaizala.times == [0.0, 7.0]  # the retry went out only after Retry-After
    assert time.sleeps == [7.0]
    assert paused_during == [True, True]


@pytest.mark.parametrize(("header", "waited"), [("soon", 60.0), (None, 60.0), ("900", 120.0)])
async def test_429_retry_after_default_and_cap(header: str | None, waited: float) -> None:
    time = FakeTime()
    headers = {"Retry-After": header} if header else {}
    kaizala = FakeKaizala([reply(429, None, headers), reply(200, [])], time=time)
    client = make_client(kaizala, time=time)

    await client.list_groups()

    assert kaizala.times == [0.0, waited]


async def test_429_exhausted_raises_rate_limited_with_retry_after() -> None:
    time = FakeTime()
    kaizala = FakeKaizala(lambda request: reply(429, None, {"Retry-After": "5"}), time=time)
    client = make_client(kaizala, time=time, rate_limit_attempts=3)

    with pytest.raises(KaizalaRateLimitedError) as info:
        await client.send_message(GROUP, "hi")

    assert info.value.retry_after == 5.0
    assert info.value.upstream_status == 429
    assert len(kaizala.requests) == 3
    assert kaizala.times == [0.0, 5.0, 10.0]


# --- 5xx and transport errors --------------------------------------------------------------------


async def test_503_is_retried_with_backoff_for_get() -> None:
    time = FakeTime()
    replies = [reply(503), reply(502), reply(200, [])]
    kaizala = FakeKaizala(replies, time=time)
    client = make_client(kaizala, time=time, max_attempts=3, backoff_base=0.5)

    assert await client.list_groups() == []

    assert len(kaizala.requests) == 3
    assert time.sleeps == [0.5, 1.0]  # jitter pinned to 1.0: base * 2**n


async def test_backoff_is_full_jitter_and_capped() -> None:
    time = FakeTime()
    kaizala = FakeKaizala([reply(500)] * 5 + [reply(200, [])], time=time)
    draws = iter([0.5, 0.25, 1.0, 1.0, 0.0])
    client = make_client(
        kaizala,
        time=time,
        max_attempts=6,
        backoff_base=1.0,
        backoff_cap=4.0,
        jitter=lambda: next(draws),
    )

    await client.list_groups()

    assert time.sleeps == [0.5, 0.5, 4.0, 4.0, 0.0]


async def test_503_retry_after_is_honoured() -> None:
    time = FakeTime()
    kaizala = FakeKaizala([reply(503, None, {"Retry-After": "4"}), reply(200, [])], time=time)
    client = make_client(kaizala, time=time)

    await client.list_groups()

    assert time.sleeps == [4.0]


async def test_5xx_exhausted_raises_server_error() -> None:
    time = FakeTime()
    kaizala = FakeKaizala(lambda request: reply(500, "boom"), time=time)
    client = make_client(kaizala, time=time, max_attempts=3)

    with pytest.raises(KaizalaServerError) as info:
        await client.delete_webhook(WEBHOOK)

    assert len(kaizala.requests) == 3
    assert info.value.upstream_status == 500


async def test_post_is_not_retried_on_5xx() -> None:
    kaizala = FakeKaizala(lambda request: reply(503))
    client = make_client(kaizala)

    with pytest.raises(KaizalaServerError):
        await client.send_message(GROUP, "once only")

    assert len(kaizala.requests) == 1


async def test_post_is_not_retried_after_a_read_error() -> None:
    kaizala = FakeKaizala(lambda request: httpx.ReadError("connection reset"))
    client = make_client(kaizala)

    with pytest.raises(KaizalaTransportError, match="ReadError"):
        await client.send_action(
            GROUP, action_type="Job", action_body={"title": "t", "assignedTo": ["+919100000002"]}
        )

    assert len(kaizala.requests) == 1


@pytest.mark.parametrize(
    "error", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("x")]
)
async def test_post_is_retried_when_the_request_never_left(error: Exception) -> None:
    kaizala = FakeKaizala([error, reply(200, {"referenceId": "ref-1"})])
    client = make_client(kaizala)

    result = await client.send_message(GROUP, "retry me")

    assert result.referenceId == "ref-1"
    assert len(kaizala.requests) == 2


async def test_get_is_retried_after_a_read_timeout() -> None:
    kaizala = FakeKaizala([httpx.ReadTimeout("slow"), reply(200, [])])
    client = make_client(kaizala)

    assert await client.list_groups() == []
    assert len(kaizala.requests) == 2


async def test_transport_errors_exhausted() -> None:
    kaizala = FakeKaizala(lambda request: httpx.ConnectError(f"refused for {ACCESS}"))
    client = make_client(kaizala, max_attempts=3)

    with pytest.raises(KaizalaTransportError) as info:
        await client.list_groups()

    assert len(kaizala.requests) == 3
    assert info.value.upstream_status is None
    assert ACCESS not in str(info.value)
    assert ACCESS not in repr(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


# --- 401 -----------------------------------------------------------------------------------------


async def test_401_refreshes_once_and_retries_with_the_new_token() -> None:
    kaizala = FakeKaizala(
        lambda r: reply(401) if r.headers["accessToken"] == ACCESS else reply(200, [])
    )
    tokens = FakeTokens()
    rejected = tokens.token
    client = make_client(kaizala, tokens)

    assert await client.list_groups() == []

    assert tokens.refresh_calls == [rejected]
    assert [r.headers["accessToken"] for r in kaizala.requests] == [ACCESS, ACCESS_2]


async def test_a_401_refresh_that_moves_the_endpoint_sends_the_retry_to_the_new_host() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["accessToken"] == ACCESS:
            return reply(401)
        return reply(200, {"actionId": ACTION})

    kaizala = FakeKaizala(handler)
    tokens = FakeTokens(refreshed_endpoint="https://kms5.kaiza.la/")
    client = make_client(kaizala, tokens)

    await client.get_action(GROUP, ACTION)

    first, second = kaizala.requests
    assert kaizala.hosts == ["kms2.kaiza.la", "kms5.kaiza.la"]
    assert second.headers["accessToken"] == ACCESS_2
    assert second.url.path == first.url.path == f"/v1/groups/{GROUP}/actions/{ACTION}"
    assert dict(second.url.params) == {"getDetails": "true"}  # the query goes along


async def test_a_refreshed_endpoint_host_is_trusted_like_the_first_one() -> None:
    # The token service named it, so it needs no allow-list pattern (like the first endpoint).
    kaizala = FakeKaizala(
        lambda r: reply(401) if r.headers["accessToken"] == ACCESS else reply(200, [])
    )
    tokens = FakeTokens(refreshed_endpoint="https://inc-001.KaizalaMessaging.osi.office.net/")
    client = make_client(kaizala, tokens)

    assert await client.list_groups() == []

    assert kaizala.hosts == ["kms2.kaiza.la", "inc-001.kaizalamessaging.osi.office.net"]


async def test_a_refreshed_endpoint_is_checked_before_the_retry() -> None:
    kaizala = FakeKaizala(lambda request: reply(401))
    tokens = FakeTokens(refreshed_endpoint="http://kms5.kaiza.la/")  # plain http, not loopback
    client = make_client(kaizala, tokens)

    with pytest.raises(KaizalaEndpointRefusedError) as info:
        await client.list_groups()

    assert kaizala.hosts == ["kms2.kaiza.la"]  # nothing went to the refused endpoint
    assert ACCESS_2 not in str(info.value)


async def test_second_401_raises_auth_error_after_one_refresh() -> None:
    kaizala = FakeKaizala(lambda request: reply(401, {"message": "token expired"}))
    tokens = FakeTokens()
    client = make_client(kaizala, tokens)

    with pytest.raises(KaizalaAuthError) as info:
        await client.send_message(GROUP, "hi")

    assert len(tokens.refresh_calls) == 1
    assert len(kaizala.requests) == 2
    assert info.value.upstream_status == 401


async def test_403_is_not_refreshed() -> None:
    kaizala = FakeKaizala(lambda request: reply(403, {"message": "scope"}))
    tokens = FakeTokens()
    client = make_client(kaizala, tokens)

    with pytest.raises(KaizalaAuthError):
        await client.list_groups()

    assert tokens.refresh_calls == []
    assert len(kaizala.requests) == 1


async def test_401_from_the_token_service_is_not_refreshed() -> None:
    kaizala = FakeKaizala(lambda request: reply(401))
    tokens = FakeTokens()
    client = make_client(kaizala, tokens)

    with pytest.raises(KaizalaAuthError):
        await client.fetch_access_token("app", "AS-some-secret", "RT-some-token")

    assert tokens.refresh_calls == []
    assert len(kaizala.requests) == 1


# --- status mapping and parsing ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, KaizalaBadRequestError),
        (404, KaizalaNotFoundError),
        (409, KaizalaBadRequestError),
        (413, KaizalaBadRequestError),
        (403, KaizalaAuthError),
        (302, KaizalaError),
        (308, KaizalaError),  # a 308 without Location cannot be followed
    ],
)
async def test_status_maps_to_typed_error(status: int, error: type[KaizalaError]) -> None:
    kaizala = FakeKaizala(
        lambda request: reply(status, {"message": "nope"}, {"x-ms-request-id": "req-42"})
    )
    client = make_client(kaizala)

    with pytest.raises(error) as info:
        await client.get_action(GROUP, ACTION)

    exc = info.value
    assert type(exc) is error
    assert exc.upstream_status == status
    assert exc.request_id == "req-42"
    assert (exc.method, exc.path) == ("GET", f"/v1/groups/{GROUP}/actions/{ACTION}")
    assert "nope" in exc.body_excerpt
    assert "getDetails" not in str(exc)  # path only, never the query


async def test_non_json_body_is_a_kaizala_error_with_excerpt() -> None:
    client = make_client(FakeKaizala(lambda request: reply(200, "<html>gateway</html>")))

    with pytest.raises(KaizalaError, match="not JSON") as info:
        await client.send_message(GROUP, "hi")

    assert type(info.value) is KaizalaError
    assert info.value.body_excerpt == "<html>gateway</html>"


async def test_wrong_shape_is_a_kaizala_error_naming_the_field() -> None:
    client = make_client(FakeKaizala(lambda request: reply(200, {"unexpected": True})))

    with pytest.raises(KaizalaError, match="referenceId: missing"):
        await client.send_message(GROUP, "hi")


async def test_excerpt_is_bounded() -> None:
    client = make_client(FakeKaizala(lambda request: reply(400, "x " * 1000)))

    with pytest.raises(KaizalaBadRequestError) as info:
        await client.list_groups()

    assert len(info.value.body_excerpt) <= 300


# --- argument validation ------------------------------------------------------------------------

BAD_IDS = ["../x", "a/b", "a?b", "x" * 65, "", "a b", "a%2Fb", "a\n", "a#b", "ü", ".."]

ID_CALLS: list[tuple[str, Callable[[KaizalaClient, str], Awaitable[Any]]]] = [
    ("get_group", lambda c, v: c.get_group(v)),
    ("send_message", lambda c, v: c.send_message(v, "hi")),
    ("send_action", lambda c, v: c.send_action(v, action_type="Job", action_body={})),
    ("get_action", lambda c, v: c.get_action(GROUP, v)),
    ("post_response", lambda c, v: c.post_response(GROUP, v, {})),
    ("send_reminder", lambda c, v: c.send_reminder(v, ACTION)),
    ("list_actions", lambda c, v: c.list_actions(v, "Survey")),
    ("list_members", lambda c, v: c.list_members(v)),
    ("remove_member", lambda c, v: c.remove_member(GROUP, v)),
    ("remove_subgroup", lambda c, v: c.remove_subgroup(GROUP, v)),
    ("activate_webhook", lambda c, v: c.activate_webhook(v)),
    ("delete_webhook", lambda c, v: c.delete_webhook(v)),
]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
@pytest.mark.parametrize(("name", "call"), ID_CALLS, ids=[n for n, _ in ID_CALLS])
async def test_malformed_ids_are_rejected_before_any_request(
    name: str, call: Callable[[KaizalaClient, str], Awaitable[Any]], bad: str
) -> None:
    kaizala = FakeKaizala()
    tokens = FakeTokens()
    client = make_client(kaizala, tokens)

    with pytest.raises(KaizalaValidationError):
        await call(client, bad)

    assert kaizala.requests == []
    assert tokens.current_calls == 0


async def test_a_64_character_id_is_accepted() -> None:
    kaizala = FakeKaizala(lambda request: reply(200, {"groupId": "g"}))
    await make_client(kaizala).get_group("a" * 64)
    assert kaizala.requests[0].url.path == "/v1/groups/" + "a" * 64


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"action_type": "Survey", "action_package_id": "com.x.y"}],
    ids=["neither", "both"],
)
async def test_send_action_needs_exactly_one_of_type_and_package(kwargs: dict[str, Any]) -> None:
    kaizala = FakeKaizala()
    with pytest.raises(KaizalaValidationError):
        await make_client(kaizala).send_action(GROUP, action_body={}, **kwargs)
    assert kaizala.requests == []


async def test_message_over_4000_characters_is_rejected_locally() -> None:
    kaizala = FakeKaizala()
    with pytest.raises(ValueError, match="4000"):
        await make_client(kaizala).send_message(GROUP, "x" * 4001)
    assert kaizala.requests == []


async def test_subscriber_message_over_1000_characters_is_rejected_locally() -> None:
    # SendMessageToSubscriber's `Message` is capped at 1,000 characters (the swagger).
    kaizala = FakeKaizala(lambda request: reply(200, {"referenceId": "ref-1"}))
    client = make_client(kaizala)
    with pytest.raises(ValueError, match="1000"):
        await client.send_message(GROUP, "x" * 1001, send_to_all_subscribers=True)
    assert kaizala.requests == []
    await client.send_message(GROUP, "x" * 1000, send_to_all_subscribers=True)
    assert len(kaizala.requests) == 1


async def test_list_webhooks_object_id_cannot_inject_query() -> None:
    kaizala = FakeKaizala(lambda request: reply(200, []))
    client = make_client(kaizala)

    with pytest.raises(KaizalaValidationError):
        await client.list_webhooks("g&objectType=Action", "Group")
    await client.list_webhooks("com.microsoft.kaizala.miniapps.X.1", "ActionPackage")

    assert dict(kaizala.requests[0].url.params) == {
        "objectId": "com.microsoft.kaizala.miniapps.X.1",
        "objectType": "ActionPackage",
    }


# --- logging ----------------------------------------------------------------------------------


async def test_one_log_line_per_call_with_template_and_no_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kaizala = FakeKaizala([reply(503), reply(200, {"groupId": GROUP})])
    client = make_client(kaizala)

    with caplog.at_level(logging.DEBUG, logger="shared.adapters.kaizala"):
        await client.get_group(GROUP)

    summary = [
        r.getMessage()
        for r in caplog.records
        if r.name == "shared.adapters.kaizala" and r.levelno >= logging.INFO
    ]
    assert summary == [summary[0]]
    assert "GET groups/{groupId} status=200 attempts=2" in summary[0]
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name == "shared.adapters.kaizala")
    assert ACCESS not in ours
    assert GROUP not in ours  # the template, not the ids
    assert ACCESS not in caplog.text  # nor in anything httpx logged


async def test_get_group_wrapped_in_an_empty_list_is_not_found() -> None:
    client = make_client(FakeKaizala(lambda request: reply(200, {"groups": []})))

    with pytest.raises(KaizalaNotFoundError):
        await client.get_group(GROUP)


@pytest.mark.parametrize(
    ("item", "title"),
    [
        ({"actionId": "a", "title": "Survey T"}, "Survey T"),
        ({"id": "a", "question": "Poll Q"}, "Poll Q"),
        ({"actionBody": {"actionId": "a", "Title": "Announce"}}, "Announce"),
        ({"actionBody": {"actionId": "a", "title": ""}, "question": "Top"}, "Top"),
    ],
)
def test_action_summary_display_title(item: dict[str, Any], title: str) -> None:
    from shared.adapters.kaizala import ActionSummary

    summary = ActionSummary.model_validate(item)
    assert summary.actionId == "a"
    assert summary.display_title == title
