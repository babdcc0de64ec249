"""Indexing a FunctionApp, the describe_functions table, and route templates."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import azure.functions as func
import pytest

from devtools.host import (
    HostError,
    create_host_app,
    describe_functions,
    index_app,
    index_functions,
    read_route_prefix,
)
from devtools.host.routes import compile_route
from tests.host import sample_app

HERE = Path(__file__).parent

EXPECTED_TABLE = [
    ("boom", "http", "sample-api/boom", ["GET"], "function", None),
    ("context_probe", "http", "sample-api/context", ["GET"], "function", None),
    ("echo", "http", "sample-api/echo", ["POST", "PUT"], "function", None),
    ("files", "http", "sample-api/files/{name?}", ["*"], "anonymous", None),
    ("hello", "http", "sample-api/hello/{name:alpha}", ["GET"], "anonymous", None),
    ("item_by_id", "http", "sample-api/items/{id:guid}", ["DELETE", "GET"], "admin", None),
    ("item_by_number", "http", "sample-api/items/{n:int}", ["GET"], "function", None),
    ("nothing", "http", "sample-api/nothing", ["POST"], "function", None),
    ("settings", "http", "sample-api/settings", ["GET"], "anonymous", None),
    ("slow_timer", "timer", None, [], None, "%SAMPLE_SLOW_SCHEDULE%"),
    ("startup_timer", "timer", None, [], None, "%KAIZALA_RENEW_SCHEDULE%"),
    ("tick_timer", "timer", None, [], None, "%SAMPLE_TICK_SCHEDULE%"),
]


def test_describe_functions_of_the_sample_app() -> None:
    rows = describe_functions(index_app(sample_app.build_app(), base_dir=HERE))
    keys = ("name", "trigger", "route", "methods", "auth_level", "schedule")
    assert [tuple(row[k] for k in keys) for row in rows] == EXPECTED_TABLE
    assert all(set(row) == set(keys) for row in rows)


def test_an_app_is_indexed_once_and_the_index_reused() -> None:
    app = sample_app.build_app()
    first = index_app(app, base_dir=HERE)
    second = index_app(app)  # no host.json in the cwd's place: other prefix, same functions
    assert first.functions == second.functions
    create_host_app(app, base_dir=HERE, timers=False)  # a third use, still one get_functions()


def test_already_built_functions_can_be_indexed_directly() -> None:
    app = sample_app.build_app()
    built = app.get_functions()
    with pytest.raises(HostError, match="index_functions"):
        index_app(app)
    indexed = index_functions(built, base_dir=HERE)
    assert [f.name for f in indexed.functions] == [f.get_function_name() for f in built]


def test_route_prefix_comes_from_host_json(tmp_path: Path) -> None:
    assert read_route_prefix([tmp_path]) == "api"  # no host.json
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"http": {"routePrefix": ""}}}))
    assert read_route_prefix([tmp_path]) == ""
    rows = describe_functions(index_app(sample_app.build_app(), base_dir=tmp_path))
    assert rows[0]["route"] == "boom"
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0"}))
    assert read_route_prefix([tmp_path]) == "api"


def _app_with(register: Callable[[func.FunctionApp], None]) -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    register(app)
    return app


def test_unsupported_trigger_is_refused() -> None:
    def register(app: func.FunctionApp) -> None:
        @app.queue_trigger(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
        def on_message(msg: func.QueueMessage) -> None:
            return None

    with pytest.raises(HostError, match=r"'on_message'.*'queueTrigger' is not supported"):
        index_app(_app_with(register))


def test_extra_binding_is_refused() -> None:
    def register(app: func.FunctionApp) -> None:
        @app.route(route="x")
        @app.queue_output(arg_name="out", queue_name="q", connection="AzureWebJobsStorage")
        def with_output(req: func.HttpRequest, out: func.Out[str]) -> str:
            return "x"

    with pytest.raises(HostError, match=r"'with_output'.*binding 'queue'"):
        index_app(_app_with(register))


def test_trigger_parameter_must_exist() -> None:
    def register(app: func.FunctionApp) -> None:
        @app.route(route="x")  # binds "req"
        def misnamed(request: func.HttpRequest) -> str:
            return "x"

    with pytest.raises(HostError, match=r"'misnamed'.*parameter 'req'"):
        index_app(_app_with(register))


def test_invalid_route_template_fails_start_up() -> None:
    def register(app: func.FunctionApp) -> None:
        @app.route(route="items/{id:nonsense}")
        def bad_route(req: func.HttpRequest) -> str:
            return "x"

    with pytest.raises(HostError, match=r"'bad_route'.*constraint 'nonsense'"):
        create_host_app(_app_with(register), timers=False)


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        (
            "api/items/{id:guid}",
            "/api/items/6f1c2a9e-3b4d-4c5e-8f70-123456789abc",
            {"id": "6f1c2a9e-3b4d-4c5e-8f70-123456789abc"},
        ),
        ("api/items/{id:guid}", "/api/items/6f1c2a9e", None),
        ("api/n/{n:int}", "/api/n/-12", {"n": "-12"}),
        ("api/n/{n:int}", "/api/n/99999999999", None),  # beyond Int32
        ("api/n/{n:long:min(10)}", "/api/n/9", None),
        ("api/n/{n:range(1,5)}", "/api/n/5", {"n": "5"}),
        ("api/x/{x:alpha}", "/api/x/abc", {"x": "abc"}),
        ("api/x/{x:alpha}", "/api/x/ab1", None),
        ("api/x/{x:bool}", "/api/x/TRUE", {"x": "TRUE"}),
        ("api/x/{x:length(2,3)}", "/api/x/abcd", None),
        ("api/x/{x:regex(^[a-z]{{2}}$)}", "/api/x/ab", {"x": "ab"}),
        ("api/x/{x:regex(^[a-z]{{2}}$)}", "/api/x/abc", None),
        ("api/opt/{name?}", "/api/opt", {}),
        ("api/opt/{name?}", "/api/opt/a%2Fb", {"name": "a/b"}),  # encoded "/" stays one value
        ("api/opt/{name?}", "/api/opt/a/b", None),
        ("api/def/{v=dflt}", "/api/def", {"v": "dflt"}),
        ("api/all/{*rest}", "/api/all/a/b/c", {"rest": "a/b/c"}),
        ("api/f/{file}.{ext}", "/api/f/a.tar.gz", {"file": "a.tar", "ext": "gz"}),
        ("api/lit", "/API/Lit/", {}),
    ],
)
def test_route_templates(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert compile_route(template).match(path) == expected


def test_literal_routes_take_precedence_over_parameters() -> None:
    literal = compile_route("api/items/special").precedence
    constrained = compile_route("api/items/{id:int}").precedence
    plain = compile_route("api/items/{id}").precedence
    catch_all = compile_route("api/{*rest}").precedence
    assert sorted([catch_all, plain, literal, constrained]) == [
        literal,
        constrained,
        plain,
        catch_all,
    ]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("a/{x", "unmatched '{'"),
        ("a/x}", "unmatched '}'"),
        ("a/{*rest}/b", "catch-all parameter must come last"),
        ("a/{x}{y}", "separated by a literal"),
        ("a/{x}/{X}", "repeats parameter 'x'"),
        ("a//b", "empty segment"),
        ("a/{x:min(a)}", "needs whole numbers"),
        ("a/{x:int(3)}", "takes no argument"),
        ("a/{x?}.txt", "must fill a whole segment"),
    ],
)
def test_invalid_route_templates(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        compile_route(template)
