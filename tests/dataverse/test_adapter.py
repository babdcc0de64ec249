"""shared.adapters.dataverse against the simulator over real HTTP (and an echoing server)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devtools.dataverse_sim import DEFAULT_TOKEN, SimState
from devtools.serving import ServerThread, free_port, serve
from shared.adapters.dataverse import (
    ACTIVITY_NAMESPACE,
    AzureIdentityTokenSource,
    DataverseClient,
    DataverseConflictError,
    DataverseInputError,
    DataversePermanentError,
    DataverseThrottledError,
    DataverseTransientError,
    DataverseUnavailableError,
    StaticTokenSource,
    activity_id_for,
    build_http_client,
    entity_set_for,
    parse_retry_after,
    regarding_bind_property,
)
from shared.config import Settings
from shared.errors import ConfigError
from tests.conftest import register_secret
from tests.dataverse.conftest import CONTOSO, FABRIKAM, UNKNOWN_OPPORTUNITY


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with build_http_client() as client:
        yield client


@pytest.fixture
def client(http: httpx.AsyncClient, sim_server: ServerThread) -> DataverseClient:
    return DataverseClient(http, sim_server.url, StaticTokenSource(DEFAULT_TOKEN), retry_delay=0.01)


def fault(sim_server: ServerThread, **spec: Any) -> None:
    response = httpx.post(f"{sim_server.url}/_sim/faults", json=spec, timeout=5)
    assert response.status_code == 201, response.text


def requests_served(sim: SimState) -> int:
    return int(sim.stats()["requests"])


async def upsert(client: DataverseClient, response_id: str = "r-1", **overrides: Any) -> Any:
    args: dict[str, Any] = {
        "entity_set": "tasks",
        "activity_id": activity_id_for(response_id),
        "regarding_entity": "opportunity",
        "regarding_id": CONTOSO,
        "fields": {"subject": "Survey answer", "description": "Budget approved"},
    }
    args.update(overrides)
    return await client.upsert_activity(**args)


class CountingCredential:
    """A stand-in for azure.identity.aio credentials: the boundary the token source talks to."""

    def __init__(self, token: str, lifetime: float, clock: Any = time.time) -> None:
        self.token, self.lifetime, self.clock = token, lifetime, clock
        self.scopes: list[tuple[str, ...]] = []
        self.closed = False

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(self.clock() + self.lifetime))

    async def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> CountingCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.close()


# ---- writes ------------------------------------------------------------------------------------


async def test_upsert_twice_updates_one_row(client: DataverseClient, sim: SimState) -> None:
    first = await upsert(client, fields={"subject": "first"})
    second = await upsert(client, fields={"subject": "second", "prioritycode": 2})

    rows = sim.activities("tasks")
    assert len(rows) == 1
    assert rows[0]["activityid"] == str(activity_id_for("r-1")) == str(second.activity_id)
    assert (rows[0]["subject"], rows[0]["prioritycode"]) == ("second", 2)
    assert (first.status, second.status, second.attempts) == (204, 204, 1)
    assert second.entity_url is not None
    assert second.entity_url.endswith(f"/tasks({second.activity_id})")


@pytest.mark.parametrize("entity_set", ["tasks", "phonecalls"])
async def test_regarding_bind_fits_each_activity_table(
    client: DataverseClient, sim: SimState, entity_set: str
) -> None:
    # The simulator rejects any bind name that does not fit the table, as Dataverse does.
    await upsert(client, entity_set=entity_set, regarding_id=FABRIKAM)

    rows = sim.activities(entity_set)
    assert [r["_regardingobjectid_value"] for r in rows] == [FABRIKAM]
    singular = entity_set.removesuffix("s")
    assert (
        regarding_bind_property(entity_set, "opportunity")
        == f"regardingobjectid_opportunity_{singular}@odata.bind"
    )


async def test_subject_is_cut_to_200_utf16_units(client: DataverseClient, sim: SimState) -> None:
    await upsert(client, "long", fields={"subject": "s" * 300})
    await upsert(client, "emoji", fields={"subject": "\U0001f600" * 150})

    subjects = {r["activityid"]: r["subject"] for r in sim.activities("tasks")}
    long_subject = subjects[str(activity_id_for("long"))]
    emoji_subject = subjects[str(activity_id_for("emoji"))]
    assert long_subject == "s" * 199 + "…"
    assert len(emoji_subject.encode("utf-16-le")) // 2 <= 200
    assert emoji_subject.endswith("\U0001f600…")


async def test_list_activities_filters_by_regarding(client: DataverseClient) -> None:
    await upsert(client, "a", fields={"subject": "one"})
    await upsert(client, "b", fields={"subject": "two"})
    await upsert(client, "c", regarding_id=FABRIKAM, fields={"subject": "other"})

    rows = await client.list_activities("tasks", CONTOSO, select=("subject",))

    assert sorted(r["subject"] for r in rows) == ["one", "two"]
    assert {k for r in rows for k in r} == {"@odata.etag", "activityid", "subject"}


# ---- conditional writes ------------------------------------------------------------------------


async def test_get_activity_gives_the_selected_columns_and_the_etag(
    client: DataverseClient, sim: SimState
) -> None:
    assert await client.get_activity("tasks", activity_id_for("r-1"), ("description",)) is None

    await upsert(client)
    found = await client.get_activity("tasks", activity_id_for("r-1"), ("description",))

    assert found is not None
    fields, etag = found
    assert fields == {"activityid": str(activity_id_for("r-1")), "description": "Budget approved"}
    assert etag == f'W/"{sim.activities("tasks")[0]["versionnumber"]}"'
    assert sim.stats()["byMethodStatus"] == {"GET 404": 1, "PATCH 204": 1, "GET 200": 1}


async def test_if_match_writes_only_over_the_version_read(
    client: DataverseClient, sim: SimState
) -> None:
    await upsert(client, fields={"subject": "first"})
    found = await client.get_activity("tasks", activity_id_for("r-1"), ("subject",))
    assert found is not None
    _, etag = found

    await upsert(client, fields={"subject": "second"}, if_match=etag)  # the version read
    with pytest.raises(DataverseConflictError) as caught:  # that version is gone now
        await upsert(client, fields={"subject": "third"}, if_match=etag)

    assert (caught.value.upstream_status, caught.value.retry_after) == (412, None)
    assert isinstance(caught.value, DataverseTransientError)
    assert [r["subject"] for r in sim.activities("tasks")] == ["second"]
    assert sim.stats()["byMethodStatus"]["PATCH 412"] == 1  # not retried in-call


async def test_if_none_match_only_creates(client: DataverseClient, sim: SimState) -> None:
    await upsert(client, fields={"subject": "first"}, if_none_match=True)
    with pytest.raises(DataverseConflictError) as caught:
        await upsert(client, fields={"subject": "second"}, if_none_match=True)

    assert caught.value.code == "0x80040237"
    assert [r["subject"] for r in sim.activities("tasks")] == ["first"]


async def test_if_match_on_a_deleted_activity_is_not_found(
    client: DataverseClient, sim: SimState
) -> None:
    await upsert(client)
    found = await client.get_activity("tasks", activity_id_for("r-1"), ())
    assert found is not None
    sim.delete("tasks", str(activity_id_for("r-1")))

    with pytest.raises(DataversePermanentError) as caught:
        await upsert(client, if_match=found[1])

    assert caught.value.upstream_status == 404
    assert sim.activities("tasks") == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"if_match": 'W/"1"', "if_none_match": True},
        {"if_match": "1"},
        {"if_match": ""},
        {"if_match": 'W/"1"\r\nX-Injected: yes'},
    ],
)
async def test_bad_conditions_are_rejected_before_any_request(
    client: DataverseClient, sim: SimState, overrides: dict[str, Any]
) -> None:
    with pytest.raises(DataverseInputError):
        await upsert(client, **overrides)

    assert requests_served(sim) == 0


async def test_get_activity_checks_its_input(client: DataverseClient, sim: SimState) -> None:
    for args in (
        ("appointments", activity_id_for("r"), ()),
        ("tasks", "not-a-guid", ()),
        ("tasks", activity_id_for("r"), "description"),
        ("tasks", activity_id_for("r"), ("description,subject",)),
    ):
        with pytest.raises(DataverseInputError):
            await client.get_activity(*args)
    assert requests_served(sim) == 0


# ---- failures ----------------------------------------------------------------------------------


async def test_long_throttle_raises_at_once_with_retry_after(
    client: DataverseClient, sim: SimState, sim_server: ServerThread
) -> None:
    fault(sim_server, status=429, retryAfter=30, count=1)

    with pytest.raises(DataverseThrottledError) as caught:
        await upsert(client)

    assert caught.value.retry_after == 30
    assert caught.value.headers() == {"Retry-After": "30"}
    assert requests_served(sim) == 1  # no in-call wait for 30 s
    assert sim.activities("tasks") == []


async def test_short_throttle_is_waited_out_once(
    client: DataverseClient, sim: SimState, sim_server: ServerThread
) -> None:
    fault(sim_server, status=429, retryAfter=1, count=1)

    started = time.monotonic()
    result = await upsert(client)

    assert result.attempts == 2
    assert time.monotonic() - started >= 1.0
    assert len(sim.activities("tasks")) == 1


async def test_one_server_error_is_retried(
    client: DataverseClient, sim: SimState, sim_server: ServerThread
) -> None:
    fault(sim_server, status=500, count=1)

    result = await upsert(client)

    assert result.attempts == 2
    assert sim.stats()["byMethodStatus"] == {"PATCH 500": 1, "PATCH 204": 1}


async def test_down_raises_unavailable_after_a_bounded_retry(
    client: DataverseClient, sim: SimState
) -> None:
    sim.set_down(True)

    with pytest.raises(DataverseUnavailableError) as caught:
        await upsert(client)

    assert isinstance(caught.value, DataverseTransientError)
    assert caught.value.retry_after is None
    assert requests_served(sim) == 2


async def test_503_with_a_long_retry_after_is_left_to_the_caller(
    client: DataverseClient, sim: SimState, sim_server: ServerThread
) -> None:
    fault(sim_server, status=503, retryAfter=60, count=5)

    with pytest.raises(DataverseUnavailableError) as caught:
        await upsert(client)

    assert caught.value.retry_after == 60
    assert requests_served(sim) == 1


async def test_connection_refused_is_unavailable(http: httpx.AsyncClient) -> None:
    closed = DataverseClient(
        http, f"http://127.0.0.1:{free_port()}", StaticTokenSource("t"), retry_delay=0.01
    )

    with pytest.raises(DataverseUnavailableError, match="ConnectError"):
        await upsert(closed)


async def test_read_timeout_is_unavailable(sim_server: ServerThread, sim: SimState) -> None:
    fault(sim_server, delaySeconds=1.0, count=2)
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.2)) as short:
        impatient = DataverseClient(
            short, sim_server.url, StaticTokenSource(DEFAULT_TOKEN), retry_delay=0.01
        )
        with pytest.raises(DataverseUnavailableError, match="ReadTimeout"):
            await upsert(impatient)


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"fields": {"nosuchcolumn": 1}}, 400, "0x80060888"),
        ({"regarding_id": UNKNOWN_OPPORTUNITY}, 404, "0x80040217"),
        ({"fields": {"statecode": 1, "statuscode": 2}}, 400, "0x80040203"),
    ],
)
async def test_rejections_are_permanent_and_not_retried(
    client: DataverseClient, sim: SimState, overrides: dict[str, Any], status: int, code: str
) -> None:
    with pytest.raises(DataversePermanentError) as caught:
        await upsert(client, **overrides)

    assert (caught.value.upstream_status, caught.value.code) == (status, code)
    assert caught.value.status == 502  # the bridge's own answer to its caller
    assert requests_served(sim) == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"entity_set": "appointments"},
        {"regarding_entity": "Opportunity"},
        {"regarding_entity": "opportunity)/../x"},
        {"regarding_id": "not-a-guid"},
        {"regarding_id": f"{CONTOSO})/tasks("},
        {"regarding_id": "00000000-0000-0000-0000-000000000000"},
        {"activity_id": "1234"},
        {"fields": {"regardingobjectid_opportunity_task@odata.bind": "/opportunities(x)"}},
        {"fields": {"activityid": str(uuid.uuid4())}},
        {"fields": {"Subject": "capital"}},
        {"fields": {"scheduledend": object()}},
    ],
)
async def test_invalid_input_is_rejected_before_any_request(
    client: DataverseClient, sim: SimState, overrides: dict[str, Any]
) -> None:
    before = requests_served(sim)

    with pytest.raises(DataverseInputError):
        await upsert(client, **overrides)

    assert requests_served(sim) == before == 0


# ---- configuration and tokens ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "source", "setting"),
    [
        ("https://contoso.crm.dynamics.com", "static", "DATAVERSE_STATIC_TOKEN"),
        ("http://10.0.0.5:8080", "static", "DATAVERSE_STATIC_TOKEN"),
        ("http://contoso.crm.dynamics.com", "azure", "DATAVERSE_URL"),
        ("https://contoso.crm.dynamics.com/api/data/v9.2", "azure", "DATAVERSE_URL"),
    ],
)
def test_configuration_is_refused(
    http: httpx.AsyncClient, url: str, source: str, setting: str
) -> None:
    tokens = (
        StaticTokenSource("t") if source == "static" else AzureIdentityTokenSource(_credential())
    )
    with pytest.raises(ConfigError) as caught:
        DataverseClient(http, url, tokens)
    assert caught.value.setting == setting


def _credential() -> Any:
    return CountingCredential("unused", 3600)


async def test_azure_identity_token_is_cached_until_five_minutes_before_expiry(
    http: httpx.AsyncClient, sim_server: ServerThread, sim: SimState
) -> None:
    now = [1_000_000.0]
    credential = CountingCredential(DEFAULT_TOKEN, lifetime=3600, clock=lambda: now[0])
    source = AzureIdentityTokenSource(credential, clock=lambda: now[0])
    client = DataverseClient(http, sim_server.url, source)

    for n in range(3):
        await upsert(client, f"r{n}")
    assert credential.scopes == [(f"{sim_server.url}/.default",)]

    now[0] += 3600 - 301
    await upsert(client, "r3")
    assert len(credential.scopes) == 1
    now[0] += 2  # inside the 5-minute margin
    await upsert(client, "r4")
    assert len(credential.scopes) == 2
    assert len(sim.activities("tasks")) == 5


async def test_from_settings_uses_the_static_token_for_the_simulator(
    http: httpx.AsyncClient, sim_server: ServerThread, sim: SimState
) -> None:
    settings = Settings.from_env(
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "DATAVERSE_URL": sim_server.url,
            "DATAVERSE_STATIC_TOKEN": DEFAULT_TOKEN,
        }
    )
    client = DataverseClient.from_settings(settings, http)

    await upsert(client)
    await client.aclose()

    assert len(sim.activities("tasks")) == 1


async def test_from_settings_uses_the_credential_and_closes_only_its_own(
    http: httpx.AsyncClient,
) -> None:
    settings = Settings.from_env(
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "DATAVERSE_URL": "https://contoso.crm.dynamics.com",
        }
    )
    credential = CountingCredential("t", 3600)
    client = DataverseClient.from_settings(settings, http, credential=credential)
    await client.aclose()

    assert isinstance(client, DataverseClient)
    assert credential.closed is False  # the caller's credential stays the caller's


async def test_token_never_appears_in_errors_or_logs(
    http: httpx.AsyncClient, sim_server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cret-static-token-value"
    register_secret(secret)  # the suite-wide log scan checks it too
    wrong = DataverseClient(http, sim_server.url, StaticTokenSource(secret))

    # 401 is retried later by the inbox (the token may have been revoked), so it is transient
    with pytest.raises(DataverseUnavailableError) as unauthorized:
        await upsert(wrong)

    assert "401" in str(unauthorized.value)
    for text in (
        str(unauthorized.value),
        repr(unauthorized.value),
        caplog.text,
        repr(wrong._tokens),
    ):
        assert secret not in text


async def test_token_echoed_by_the_server_is_redacted(http: httpx.AsyncClient) -> None:
    secret = "echoed-token-value-42"
    register_secret(secret)

    async def echo(request: Request) -> JSONResponse:
        authorization = request.headers.get("authorization", "")
        error = {"code": "0x80040220", "message": f"Principal with {authorization} lacks a role"}
        return JSONResponse({"error": error}, status_code=403)

    echo_app = Starlette(routes=[Route("/api/data/v9.2/{path:path}", echo, methods=["PATCH"])])
    with serve(echo_app) as server:
        client = DataverseClient(http, server.url, StaticTokenSource(secret))
        with pytest.raises(DataversePermanentError) as caught:
            await upsert(client)

    assert caught.value.upstream_status == 403
    assert "lacks a role" in str(caught.value)
    assert "[redacted]" in str(caught.value)
    assert secret not in str(caught.value)
    assert secret not in str(caught.value.problem())


async def test_one_log_line_per_call(
    client: DataverseClient, sim_server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shared.adapters.dataverse")
    fault(sim_server, status=500, count=1)

    await upsert(client)

    lines = [r.getMessage() for r in caplog.records if r.name == "shared.adapters.dataverse"]
    assert len(lines) == 1
    assert lines[0].startswith("dataverse PATCH tasks status=204 attempts=2 duration_ms=")


# ---- helpers -----------------------------------------------------------------------------------


def test_activity_id_is_deterministic_per_response() -> None:
    first = activity_id_for("response-1")

    assert first == activity_id_for("response-1")
    assert first != activity_id_for("response-2")
    assert first.version == 5
    assert first == uuid.uuid5(ACTIVITY_NAMESPACE, "response-1")
    assert activity_id_for("response-1", namespace=uuid.NAMESPACE_URL) != first
    with pytest.raises(DataverseInputError):
        activity_id_for("  ")


@pytest.mark.parametrize(
    ("logical", "entity_set"),
    [
        ("opportunity", "opportunities"),
        ("account", "accounts"),
        ("activityparty", "activityparties"),
        ("survey", "surveys"),
        ("customeraddress", "customeraddresses"),
    ],
)
def test_entity_set_names(logical: str, entity_set: str) -> None:
    assert entity_set_for(logical) == entity_set


def test_retry_after_parsing() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(formatdate(1_000_030, usegmt=True), now=1_000_000) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-5") == 0.0
