"""The transport's policies, one by one, through the fake Kaizala at the HTTP boundary.

The client-level tests (test_rules.py) show the rules on real operations; these pin what each
step of the loop decides: which answers are retried (the shared `RetryPolicy`), how long a wait
is (back-off, Retry-After, the cap, the default), what a token-service call may and may not do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from shared.adapters.kaizala import (
    KaizalaAuthClient,
    KaizalaClient,
    KaizalaError,
    KaizalaRateLimitedError,
    KaizalaRedirectRefusedError,
    KaizalaServerError,
)
from tests.kaizala_client.fakes import (
    ACCESS,
    APP_ID,
    APP_SECRET,
    REFRESH,
    FakeKaizala,
    FakeTime,
    FakeTokens,
    make_transport,
    reply,
)

# 2015-10-21 07:28:00 UTC: the fake clock's "now" when a Retry-After is an HTTP date.
NOW = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)


# --- which failures are retried ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "failure", "retried"),
    [
        ("GET", 500, True),
        ("GET", 502, True),
        ("GET", 503, True),
        ("GET", 504, True),
        ("GET", 408, True),  # RetryPolicy's retryable set includes a request timeout
        ("GET", 501, False),  # ... and not every 5xx: "not implemented" will not change
        ("GET", 404, False),
        ("GET", 400, False),
        ("PUT", 503, True),
        ("DELETE", 500, True),
        ("POST", 503, False),  # may have been applied: never re-posted
        ("POST", 500, False),
        ("GET", httpx.ReadTimeout("slow"), True),
        ("PUT", httpx.ReadError("reset"), True),
        ("POST", httpx.ReadError("reset"), False),  # it may have reached Kaizala
        ("POST", httpx.ReadTimeout("slow"), False),
        ("POST", httpx.ConnectError("refused"), True),  # it never left
        ("POST", httpx.ConnectTimeout("slow"), True),
        ("POST", httpx.PoolTimeout("busy"), True),
    ],
    ids=repr,
)
async def test_retry_decisions_follow_the_policy(
    method: str, failure: int | Exception, retried: bool
) -> None:
    answer = failure if isinstance(failure, Exception) else reply(failure, {"m": "x"})
    kaizala = FakeKaizala(lambda request: answer)
    transport = make_transport(kaizala, max_attempts=3)

    with pytest.raises(KaizalaError):
        await transport.platform(FakeTokens(), method, "groups", "groups")

    assert len(kaizala.requests) == (3 if retried else 1)


async def test_backoff_waits_come_from_the_policy_and_are_capped() -> None:
    time = FakeTime()
    kaizala = FakeKaizala([reply(500)] * 3 + [reply(200, [])], time=time)
    transport = make_transport(
        kaizala, time=time, max_attempts=4, backoff_base=1.0, backoff_cap=3.0
    )

    await transport.platform(FakeTokens(), "GET", "groups", "groups")

    assert time.sleeps == [1.0, 2.0, 3.0]  # jitter pinned to 1.0; the third is capped
    assert kaizala.times == [0.0, 1.0, 3.0, 6.0]


async def test_a_503_retry_after_replaces_the_backoff_but_not_the_cap() -> None:
    time = FakeTime()
    replies = [reply(503, None, {"Retry-After": "60"}), reply(503), reply(200, [])]
    kaizala = FakeKaizala(replies, time=time)
    transport = make_transport(kaizala, time=time, retry_after_cap=5.0, backoff_base=0.5)

    await transport.platform(FakeTokens(), "GET", "groups", "groups")

    assert time.sleeps == [5.0, 1.0]  # capped server wait, then the back-off (no header)


async def test_a_500_retry_after_is_not_a_server_wait() -> None:
    # Only a 503 (and a 429) carries a wait worth honouring; a 500's header is ignored.
    time = FakeTime()
    kaizala = FakeKaizala([reply(500, None, {"Retry-After": "30"}), reply(200, [])], time=time)
    transport = make_transport(kaizala, time=time, backoff_base=0.5)

    await transport.platform(FakeTokens(), "GET", "groups", "groups")

    assert time.sleeps == [0.5]


# --- 429: the throttle budget and the wait ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        ("2.5", 2.5),
        ("0", 0.0),
        # The one Retry-After parser reads a negative delta as "no wait" (it was the default).
        ("-4", 0.0),
        ("nan", 60.0),
        ("inf", 60.0),
        ("soon", 60.0),
        ("", 60.0),
        (None, 60.0),
        ("500", 120.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),  # against the injected clock, not the wall
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),  # a date in the past
    ],
)
async def test_the_429_wait_is_retry_after_else_the_default_and_always_capped(
    value: str | None, expected: float
) -> None:
    time = FakeTime()
    time.now = NOW.timestamp()
    headers = {"Retry-After": value} if value is not None else {}
    kaizala = FakeKaizala([reply(429, None, headers), reply(200, [])], time=time)
    transport = make_transport(kaizala, time=time, retry_after_default=60.0)

    await transport.platform(FakeTokens(), "GET", "groups", "groups")

    assert kaizala.times[1] - kaizala.times[0] == expected


async def test_an_http_date_retry_after_uses_the_injected_clock() -> None:
    time = FakeTime()
    time.now = 1_000_000.0
    when = format_datetime(datetime.fromtimestamp(1_000_042, tz=UTC), usegmt=True)
    kaizala = FakeKaizala([reply(429, None, {"Retry-After": when}), reply(200, [])], time=time)
    transport = make_transport(kaizala, time=time)

    await transport.platform(FakeTokens(), "GET", "groups", "groups")

    assert kaizala.times == [1_000_000.0, 1_000_042.0]


async def test_429_has_its_own_budget_even_for_a_post() -> None:
    # A throttled request was not processed: retried though the back-off budget is one try.
    time = FakeTime()
    replies = [reply(429, None, {"Retry-After": "1"})] * 2 + [reply(200, {"referenceId": "r"})]
    kaizala = FakeKaizala(replies, time=time)
    transport = make_transport(kaizala, time=time, max_attempts=1, rate_limit_attempts=3)

    _, response = await transport.platform(FakeTokens(), "POST", "groups/{g}/messages", "x")

    assert response.status_code == 200
    assert kaizala.times == [0.0, 1.0, 2.0]


async def test_429_exhausted_pauses_the_limiter_and_raises_with_the_capped_wait() -> None:
    time = FakeTime()
    kaizala = FakeKaizala(lambda request: reply(429, None, {"Retry-After": "300"}), time=time)
    transport = make_transport(kaizala, time=time, rate_limit_attempts=1, retry_after_cap=9.0)

    with pytest.raises(KaizalaRateLimitedError) as info:
        await transport.platform(FakeTokens(), "GET", "groups", "groups")

    assert info.value.retry_after == 9.0
    assert transport.limiter.paused_until == 9.0  # the next caller waits, whoever it is
    assert len(kaizala.requests) == 1


# --- token-service calls ------------------------------------------------------------------------


async def test_a_service_call_follows_an_allowed_308_but_persists_nothing() -> None:
    replies = [
        reply(308, None, {"Location": "https://api2.kaiza.la/v1/accessToken"}),
        reply(200, {}),
    ]
    kaizala = FakeKaizala(replies)
    transport = make_transport(kaizala)

    await transport.service(
        "GET", "accessToken", headers={"applicationSecret": APP_SECRET}, secrets=[APP_SECRET]
    )

    assert kaizala.hosts == ["api.kaiza.la", "api2.kaiza.la"]
    assert kaizala.requests[1].headers["applicationSecret"] == APP_SECRET
    assert transport.api_root == "https://api.kaiza.la/v1"  # a service move is not persisted


async def test_a_service_call_never_sends_credentials_to_a_foreign_308() -> None:
    kaizala = FakeKaizala(
        [reply(308, None, {"Location": "https://collector.example.net/v1/accessToken"})]
    )
    transport = make_transport(kaizala)

    with pytest.raises(KaizalaRedirectRefusedError):
        await transport.service(
            "GET", "accessToken", headers={"applicationSecret": APP_SECRET}, secrets=[APP_SECRET]
        )

    assert kaizala.hosts == ["api.kaiza.la"]


async def test_the_auth_and_platform_clients_share_one_secret_memory() -> None:
    # The token service's answer teaches the transport the new token and the rotated refresh
    # token; a later platform error that echoes them hides them, though another client raised it.
    answers = iter(
        [
            reply(
                200,
                {
                    "accessToken": ACCESS,
                    "endpointUrl": "https://kms2.kaiza.la/",
                    "accessTokenExpiry": 1,
                    "refreshToken": REFRESH,
                },
            ),
            reply(400, f"stale {ACCESS} {REFRESH} {APP_SECRET}"),
        ]
    )
    kaizala = FakeKaizala(lambda request: next(answers))
    transport = make_transport(kaizala)
    auth = KaizalaAuthClient(transport)
    client = KaizalaClient(transport, FakeTokens(value="AT-other-0001"), auth=auth)

    await auth.fetch_access_token(APP_ID, APP_SECRET, "RT-old-token-1")
    with pytest.raises(KaizalaError) as info:
        await client.list_groups()

    for secret in (ACCESS, REFRESH, APP_SECRET):
        assert secret not in str(info.value)
    assert "stale" in info.value.body_excerpt


async def test_the_client_delegates_the_token_service_to_its_auth_client() -> None:
    kaizala = FakeKaizala(lambda request: reply(200, {}))
    transport = make_transport(kaizala)
    tokens = FakeTokens()
    client = KaizalaClient(transport, tokens, auth=KaizalaAuthClient(transport))

    await client.generate_pin("+919100000002", APP_ID)

    assert str(kaizala.requests[0].url) == "https://api.kaiza.la/v1/generatePin"
    assert tokens.current_calls == 0  # no access token involved


async def test_a_server_error_of_a_service_post_is_not_retried() -> None:
    kaizala = FakeKaizala(lambda request: reply(503))
    transport = make_transport(kaizala)

    with pytest.raises(KaizalaServerError):
        await transport.service("POST", "generatePin", json_body={}, secrets=())

    assert len(kaizala.requests) == 1


# --- hostile answers ---------------------------------------------------------------------------


async def test_a_deeply_nested_answer_is_a_typed_error_not_a_recursion_error() -> None:
    # 10,000 levels would blow Python's recursion limit in json.loads; the depth is bounded first.
    body = b"[" * 10_000 + b"]" * 10_000
    kaizala = FakeKaizala(lambda request: reply(200, body, {"content-type": "application/json"}))
    client = KaizalaClient(make_transport(kaizala), FakeTokens())

    with pytest.raises(KaizalaError, match="not JSON"):
        await client.list_groups()
    assert len(kaizala.requests) == 1
