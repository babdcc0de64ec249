"""The local host over real HTTP on 127.0.0.1 (uvicorn in a thread, httpx client)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools.host import create_host_app
from devtools.serving import ServerThread
from tests.host import sample_app

HERE = Path(__file__).parent  # its host.json sets routePrefix "sample-api"


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    host_app = create_host_app(sample_app.build_app(), base_dir=HERE, timers=False)
    server = ServerThread(host_app).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5.0) as client:
        yield client


@pytest.fixture
def host_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="devtools.host")
    return caplog


def invocation_lines(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "devtools.host" and r.getMessage().startswith(f"function={name} ")
    ]


def test_sync_function_gets_route_and_query_values_and_runs_in_a_worker_thread(
    client: httpx.Client, server: ServerThread, host_log: pytest.LogCaptureFixture
) -> None:
    response = client.get("/sample-api/hello/World", params={"greeting": "hi"})
    assert response.status_code == 200
    assert response.headers["x-sample"] == "sync"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    text = response.text
    assert text.startswith("hi World from ")
    assert not text.endswith(server.thread.name)  # sync functions leave the event loop free
    [line] = invocation_lines(host_log, "hello")
    assert " trigger=http status=200 duration_ms=" in line


def test_async_function_runs_on_the_server_loop_and_sees_the_whole_request(
    client: httpx.Client, server: ServerThread
) -> None:
    response = client.post(
        "/sample-api/echo?a=1&a=2&b=x",
        content=b"raw body bytes",
        headers={"X-Sample": "header value"},
    )
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-echo"] == "yes"
    assert response.cookies["a"] == "1"
    body = response.json()
    assert body["method"] == "POST"
    assert body["url"] == f"{server.url}/sample-api/echo?a=1&a=2&b=x"
    assert body["params"] == {"a": "1,2", "b": "x"}
    assert body["route_params"] == {}
    assert body["body"] == "raw body bytes"
    assert body["x_sample"] == "header value"
    assert body["thread"] == server.thread.name
    assert body["in_loop"] is True


def test_route_constraints_choose_the_function_or_answer_404(client: httpx.Client) -> None:
    guid = str(uuid.uuid4())
    assert client.get(f"/sample-api/items/{guid}").json() == {
        "by": "guid",
        "id": guid,
        "method": "GET",
    }
    assert client.get("/sample-api/items/42").json() == {"by": "int", "n": 42}
    assert client.get("/sample-api/items/not-a-number").status_code == 404
    assert client.get("/sample-api/hello/R2D2").status_code == 404  # {name:alpha}
    assert client.get("/SAMPLE-API/Items/7/").json() == {"by": "int", "n": 7}  # like ASP.NET


def test_wrong_method_is_405_with_allow(client: httpx.Client) -> None:
    response = client.get("/sample-api/echo")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST, PUT"
    # Only the routes that match the path count: 42 is not a guid, so DELETE is not allowed.
    response = client.delete("/sample-api/items/42")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert client.delete(f"/sample-api/items/{uuid.uuid4()}").json()["method"] == "DELETE"


def test_no_declared_methods_means_every_method_and_optional_parameters(
    client: httpx.Client,
) -> None:
    assert client.get("/sample-api/files").text == "GET (none)"
    assert client.request("PATCH", "/sample-api/files/a%20b").text == "PATCH a b"
    assert client.request("PROPFIND", "/sample-api/files/x").text == "PROPFIND x"


def test_unknown_routes_are_404(client: httpx.Client) -> None:
    for path in ("/", "/sample-api", "/sample-api/nope", "/api/hello/World", "/hello/World"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"


def test_none_is_204(client: httpx.Client) -> None:
    response = client.post("/sample-api/nothing")
    assert response.status_code == 204
    assert response.content == b""


def test_exception_is_a_generic_500_with_the_traceback_only_in_the_log(
    client: httpx.Client, host_log: pytest.LogCaptureFixture
) -> None:
    response = client.get("/sample-api/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "s3cr3t" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    problem = response.json()
    [record] = [r for r in host_log.records if r.getMessage().startswith("function=boom ")]
    assert record.levelno == logging.ERROR
    assert " trigger=http error " in record.getMessage()
    assert problem["invocation_id"] in record.getMessage()
    assert record.exc_info is not None
    assert "s3cr3t-in-exception" in str(record.exc_info[1])


def test_context_parameter_gets_the_invocation_context(
    client: httpx.Client, host_log: pytest.LogCaptureFixture
) -> None:
    body = client.get("/sample-api/context").json()
    assert body["function_name"] == "context_probe"
    [line] = invocation_lines(host_log, "context_probe")
    assert line.endswith(f"id={body['id']}")


def test_request_headers_and_bodies_are_never_logged(
    client: httpx.Client, host_log: pytest.LogCaptureFixture
) -> None:
    key = "fn-key-" + uuid.uuid4().hex
    token = "cb-token-" + uuid.uuid4().hex
    secret_body = "body-secret-" + uuid.uuid4().hex
    response = client.put(
        f"/sample-api/echo?code={key}",
        content=secret_body,
        headers={"x-functions-key": key, "kz-callback-token": token},
    )
    assert response.status_code == 201
    assert len(invocation_lines(host_log, "echo")) == 1
    # The test's own client logs its URLs (httpx, httpcore); everything else is the server.
    server_lines = "\n".join(
        r.getMessage() for r in host_log.records if not r.name.startswith(("httpx", "httpcore"))
    )
    assert "function=echo" in server_lines
    for value in (key, token, secret_body):
        assert value not in server_lines
