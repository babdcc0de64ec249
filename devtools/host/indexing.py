"""Index a `func.FunctionApp` the way the Python worker does, once per app object."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import azure.functions as func

from devtools.host.errors import HostError
from devtools.host.settings import read_route_prefix

TriggerKind = Literal["http", "timer"]

_TRIGGER_KINDS: Mapping[str, TriggerKind] = {"httpTrigger": "http", "timerTrigger": "timer"}

# The worker passes an invocation context to a parameter with exactly this name.
CONTEXT_PARAMETER = "context"

# azure-functions raises on a second `get_functions()` of the same app (duplicate names), so
# the result is kept for as long as the app object lives.
_FUNCTIONS: weakref.WeakKeyDictionary[func.FunctionApp, tuple[IndexedFunction, ...]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class IndexedFunction:
    name: str
    trigger: TriggerKind
    user_function: Callable[..., Any]
    trigger_parameter: str  # the parameter that receives the HttpRequest / TimerRequest
    wants_context: bool
    is_async: bool
    route: str | None = None  # HTTP: the template without the route prefix
    methods: frozenset[str] | None = None  # HTTP: None = every method
    auth_level: str | None = None  # HTTP: anonymous / function / admin
    schedule: str | None = None  # timer: as declared, %SETTING% placeholders unresolved
    run_on_startup: bool = False


@dataclass(frozen=True)
class IndexedApp:
    functions: tuple[IndexedFunction, ...]
    route_prefix: str
    base_dir: Path

    def get(self, name: str) -> IndexedFunction | None:
        """Look a function up by name; the Functions host compares names case-insensitively."""
        wanted = name.lower()
        return next((f for f in self.functions if f.name.lower() == wanted), None)

    def full_route(self, function: IndexedFunction) -> str | None:
        if function.route is None:
            return None
        return "/".join(part for part in (self.route_prefix, function.route) if part)


def index_app(app: func.FunctionApp, *, base_dir: Path | None = None) -> IndexedApp:
    """Index `app`; the route prefix comes from host.json in `base_dir` (default: the cwd)."""
    functions = _FUNCTIONS.get(app)
    if functions is None:
        if getattr(app, "functions_bindings", None):
            raise HostError(
                "get_functions() was already called on this FunctionApp and azure-functions "
                "allows that once per app object: pass the Function objects it returned to "
                "index_functions(), or index a fresh app"
            )
        try:
            built = app.get_functions()
        except ValueError as e:  # duplicate function names
            raise HostError(str(e)) from None
        functions = _index_all(built)
        _FUNCTIONS[app] = functions
    return _indexed(functions, base_dir)


def index_functions(
    functions: Iterable[func.Function], *, base_dir: Path | None = None
) -> IndexedApp:
    """Index Function objects that were already built by `app.get_functions()`."""
    return _indexed(_index_all(functions), base_dir)


def _indexed(functions: tuple[IndexedFunction, ...], base_dir: Path | None) -> IndexedApp:
    folder = (base_dir or Path.cwd()).resolve()
    return IndexedApp(functions, read_route_prefix([folder]), folder)


def _index_all(functions: Iterable[func.Function]) -> tuple[IndexedFunction, ...]:
    indexed = tuple(_index_function(f) for f in functions)
    seen: set[str] = set()
    for function in indexed:
        # The Functions host treats names case-insensitively.
        if function.name.lower() in seen:
            raise HostError(f"two functions are named {function.name!r}")
        seen.add(function.name.lower())
    return indexed


def describe_functions(indexed: IndexedApp) -> list[dict[str, Any]]:
    """One row per function, by name, for review tables: which endpoint needs which key."""
    rows = []
    for function in sorted(indexed.functions, key=lambda f: f.name.lower()):
        rows.append(
            {
                "name": function.name,
                "trigger": function.trigger,
                "route": indexed.full_route(function),
                "methods": ["*"]
                if function.trigger == "http" and function.methods is None
                else sorted(function.methods or ()),
                "auth_level": function.auth_level,
                "schedule": function.schedule,
            }
        )
    return rows


def format_table(rows: Iterable[Mapping[str, Any]]) -> str:
    """The --list table (plain text, one function a line)."""
    header = ("NAME", "TRIGGER", "AUTH", "METHODS", "ROUTE / SCHEDULE")
    lines = [header] + [
        (
            str(row["name"]),
            str(row["trigger"]),
            str(row["auth_level"] or "-"),
            ",".join(row["methods"]) or "-",
            str(row["route"] if row["trigger"] == "http" else row["schedule"]),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _index_function(function: func.Function) -> IndexedFunction:
    name = function.get_function_name() or function.get_user_function().__name__
    trigger = function.get_trigger()
    if trigger is None:
        raise HostError(f"function {name!r} has no trigger")
    spec = trigger.get_dict_repr()
    kind = _TRIGGER_KINDS.get(str(spec.get("type")))
    if kind is None:
        raise HostError(
            f"function {name!r}: trigger {spec.get('type')!r} is not supported by the local host "
            "(only HTTP and timer triggers)"
        )
    for binding in function.get_bindings():
        if binding is trigger:
            continue
        extra = binding.get_dict_repr()
        if not (kind == "http" and extra.get("type") == "http" and extra.get("name") == "$return"):
            raise HostError(
                f"function {name!r}: binding {extra.get('type')!r} ({extra.get('name')!r}) is "
                "not supported by the local host"
            )
    user_function = function.get_user_function()
    trigger_parameter = str(spec.get("name"))
    wants_context = _check_parameters(name, user_function, trigger_parameter)
    common: dict[str, Any] = {
        "name": name,
        "trigger": kind,
        "user_function": user_function,
        "trigger_parameter": trigger_parameter,
        "wants_context": wants_context,
        "is_async": inspect.iscoroutinefunction(user_function),
    }
    if kind == "timer":
        schedule = spec.get("schedule")
        if not isinstance(schedule, str):
            raise HostError(f"function {name!r}: the timer has no schedule")
        return IndexedFunction(
            **common, schedule=schedule, run_on_startup=bool(spec.get("runOnStartup"))
        )
    methods = spec.get("methods")
    return IndexedFunction(
        **common,
        route=str(spec.get("route") or name).strip("/"),
        methods=frozenset(_text(m).upper() for m in methods) if methods else None,
        # Built functions always carry one; "function" is the Functions default otherwise.
        auth_level=_text(spec.get("authLevel") or func.AuthLevel.FUNCTION).lower(),
    )


def _check_parameters(name: str, user_function: Callable[..., Any], trigger: str) -> bool:
    parameters = inspect.signature(user_function).parameters
    if trigger not in parameters:
        raise HostError(
            f"function {name!r}: the trigger binds parameter {trigger!r}, which the function "
            f"does not have (set arg_name to one of {list(parameters)})"
        )
    for parameter in parameters.values():
        if parameter.name in (trigger, CONTEXT_PARAMETER):
            continue
        if parameter.default is inspect.Parameter.empty and parameter.kind not in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            raise HostError(
                f"function {name!r}: parameter {parameter.name!r} has no binding the local "
                "host can fill"
            )
    return CONTEXT_PARAMETER in parameters


def _text(value: object) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)
