"""No access token, refresh token, application secret or callBackToken in any error or repr."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from shared.adapters.kaizala import (
    AccessTokenResponse,
    KaizalaClient,
    KaizalaError,
    KaizalaRateLimitedError,
    RefreshTokenResponse,
    Webhook,
    WebhookCreate,
    redact,
)
from shared.adapters.kaizala.errors import safe_request_id
from tests.kaizala_client.fakes import (
    ACCESS,
    ACCESS_2,
    ALL_SECRETS,
    APP_ID,
    APP_SECRET,
    CALLBACK_TOKEN,
    GROUP,
    REFRESH,
    FakeKaizala,
    FakeTokens,
    make_client,
    reply,
)


def _webhook() -> WebhookCreate:
    return WebhookCreate(
        objectId=GROUP,
        objectType="Group",
        eventTypes=["SurveyResponse"],
        callBackUrl="https://bridge.example.com/hook",
        callBackToken=CALLBACK_TOKEN,
    )


# Each call with the secrets it handles: a server may echo any of them back in an error.
CALLS: list[tuple[str, Callable[[KaizalaClient], Awaitable[Any]], tuple[str, ...]]] = [
    (
        "fetch_access_token",
        lambda c: c.fetch_access_token(APP_ID, APP_SECRET, REFRESH),
        (APP_SECRET, REFRESH),
    ),
    ("create_webhook", lambda c: c.create_webhook(_webhook()), (ACCESS, CALLBACK_TOKEN)),
    ("list_groups", lambda c: c.list_groups(), (ACCESS,)),
]


def assert_clean(exc: BaseException) -> None:
    shown = [str(exc), repr(exc), getattr(exc, "body_excerpt", ""), str(exc.args)]
    for text in shown:
        for secret in ALL_SECRETS:
            assert secret not in text, (secret, text)


def _answers(echo: str, secret: str) -> list[Callable[[httpx.Request], Any]]:
    encoded = echo.replace("-", "%2D")
    return [
        lambda r: reply(400, echo),
        lambda r: reply(401, {"error": echo}, {"x-ms-request-id": secret}),
        lambda r: reply(429, echo, {"Retry-After": "1"}),
        lambda r: reply(500, encoded),
        lambda r: reply(200, echo),  # not JSON
        lambda r: httpx.ReadError(echo),
    ]


ANSWER_IDS = ["400", "401+request-id", "429", "500-url-encoded", "not-json", "read-error"]


@pytest.mark.parametrize("answer_index", range(len(ANSWER_IDS)), ids=ANSWER_IDS)
@pytest.mark.parametrize(("name", "call", "secrets"), CALLS, ids=[c[0] for c in CALLS])
async def test_errors_never_show_secrets_the_server_echoes(
    name: str,
    call: Callable[[KaizalaClient], Awaitable[Any]],
    secrets: tuple[str, ...],
    answer_index: int,
) -> None:
    echo = "echo " + " ".join(secrets) + " end"
    kaizala = FakeKaizala(_answers(echo, secrets[0])[answer_index])
    client = make_client(kaizala, FakeTokens(), rate_limit_attempts=1, max_attempts=1)

    with pytest.raises(KaizalaError) as info:
        await call(client)

    assert_clean(info.value)
    assert "echo" in str(info.value) or answer_index == 2  # the excerpt is kept, just masked
    assert info.value.request_id is None


async def test_a_refreshed_token_is_hidden_too() -> None:
    answers = iter([reply(401), reply(400, f"bad {ACCESS_2} and {ACCESS}")])
    client = make_client(FakeKaizala(lambda r: next(answers)))

    with pytest.raises(KaizalaError) as info:
        await client.list_groups()

    assert_clean(info.value)


async def test_secrets_of_earlier_calls_are_hidden_from_later_errors() -> None:
    answers = iter(
        [
            reply(
                200,
                {
                    "accessToken": ACCESS_2,
                    "endpointUrl": "https://kms2.kaiza.la/",
                    "accessTokenExpiry": 1,
                    "refreshToken": REFRESH,
                },
            ),
            reply(201, {"webhookId": "w1"}),
            reply(400, f"stale {APP_SECRET} {ACCESS_2} {CALLBACK_TOKEN} {REFRESH}"),
        ]
    )
    client = make_client(FakeKaizala(lambda r: next(answers)))
    await client.fetch_access_token(APP_ID, APP_SECRET, "RT-old-token-1")
    await client.create_webhook(_webhook())

    with pytest.raises(KaizalaError) as info:
        await client.list_groups()

    assert_clean(info.value)
    assert "stale" in info.value.body_excerpt


async def test_malformed_token_response_does_not_leak_through_pydantic() -> None:
    # Missing endpointUrl: pydantic's own error text would quote the whole input.
    answer = {"accessToken": ACCESS, "refreshToken": REFRESH, "accessTokenExpiry": "soon"}
    client = make_client(FakeKaizala(lambda r: reply(200, answer)))

    with pytest.raises(KaizalaError, match="endpointUrl: missing") as info:
        await client.fetch_access_token(APP_ID, APP_SECRET, "RT-old-token-1")

    assert_clean(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_model_reprs_hide_tokens() -> None:
    token_response = AccessTokenResponse(
        accessToken=ACCESS,
        endpointUrl="https://kms2.kaiza.la/",
        accessTokenExpiry=1,
        refreshToken=REFRESH,
    )
    refresh_response = RefreshTokenResponse(refreshToken=REFRESH, refreshTokenExpiry=1)
    webhook = Webhook.model_validate({"id": "w", "callBackToken": CALLBACK_TOKEN, "x": ACCESS})
    shown = [
        repr(token_response),
        str(token_response),
        repr(token_response.to_access_token()),
        repr(refresh_response),
        repr(_webhook()),
        repr(webhook),
        str(webhook),
    ]
    for text in shown:
        for secret in ALL_SECRETS:
            assert secret not in text, text
    assert webhook.callBackToken == CALLBACK_TOKEN  # kept, just not shown


def test_request_model_errors_do_not_echo_the_callback_token() -> None:
    with pytest.raises(ValueError, match="callBackUrl") as info:
        WebhookCreate(
            objectId=GROUP,
            objectType="Group",
            eventTypes=["SurveyResponse"],
            callBackUrl="http://bridge.example.com/hook",  # not https: refused
            callBackToken=CALLBACK_TOKEN * 100,  # too long: refused
        )
    assert CALLBACK_TOKEN not in str(info.value)
    assert "callBackUrl" in str(info.value)
    assert "callBackToken" in str(info.value)


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        ('{"accessToken": "short1", "scope": "token.write"}', "short1", "token.write"),
        ("refreshToken=abcd1234&next=1", "abcd1234", "next=1"),
        ("Authorization: Bearer abc.def", "abc.def", "Authorization"),
        ("kz-callback-token: zzz999", "zzz999", "kz-callback-token"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig", "eyJhbGciOiJIUzI1NiJ9", "jwt"),
        (f"group {GROUP} not found", "", GROUP),
    ],
)
def test_redact_heuristics(text: str, hidden: str, kept: str) -> None:
    out = redact(text)
    if hidden:
        assert hidden not in out
    assert kept in out


def test_redact_hides_encoded_forms_of_known_secrets() -> None:
    secret = "p@ss/wörd+1"
    text = "raw " + secret + " url p%40ss%2Fw%C3%B6rd%2B1 json p@ss/w\\u00f6rd+1"
    out = redact(text, [secret])
    assert "p@ss" not in out
    assert "p%40ss" not in out


def test_request_id_must_look_like_one() -> None:
    assert safe_request_id(" 0HMV-abc:1 ") == "0HMV-abc:1"
    assert safe_request_id("a b c") is None
    assert safe_request_id("x" * 101) is None
    assert safe_request_id("token=abc") is None


def test_rate_limited_error_carries_retry_after() -> None:
    exc = KaizalaRateLimitedError("throttled", retry_after=12.5, method="POST", path="/v1/x?q=1")
    assert exc.retry_after == 12.5
    assert exc.upstream_status == 429
    assert exc.status == 503  # the bridge's own answer: throttled, retry later
    assert exc.path == "/v1/x"
    assert "retry after 12.5s" in str(exc)
