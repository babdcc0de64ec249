"""Azure Functions (ASP.NET Core) route templates: compile once, match request paths.

Supported: literal segments (case-insensitive), ``{name}``, optional ``{name?}``, defaults
``{name=value}``, catch-all ``{*rest}`` (last segment), complex segments such as
``{file}.{ext}``, and constraints chained with ``:`` (``{id:guid}``, ``{n:int:min(1)}``):
int, long, bool, guid, alpha, decimal, double, float, datetime, minlength(n), maxlength(n),
length(n), length(a,b), min(n), max(n), range(a,b), regex(expr). Values are percent-decoded
after matching, so an encoded ``/`` stays inside its segment, as in ASP.NET Core.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

Check = Callable[[str], bool]

_NAME_RE = re.compile(r"(\*{1,2})?([A-Za-z_][A-Za-z0-9_]*)")
_CONSTRAINT_RE = re.compile(r"[A-Za-z]+")
_GUID_RE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}"
    r"|\([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\)"
    r"|[0-9a-f]{32}",
    re.IGNORECASE,
)
_INT_RE = re.compile(r"[+-]?[0-9]+")
_NUMBER_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")

# Per-segment precedence, lower wins (ASP.NET Core's inbound route precedence).
_LITERAL, _COMPLEX, _CONSTRAINED, _PARAMETER, _CATCH_ALL = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class _Param:
    name: str
    group: str
    checks: tuple[Check, ...]
    optional: bool
    default: str | None
    catch_all: bool


@dataclass(frozen=True)
class RouteTemplate:
    template: str  # as served, e.g. "api/items/{id:guid}"
    pattern: re.Pattern[str]
    params: tuple[_Param, ...]
    precedence: tuple[int, ...]

    def match(self, raw_path: str) -> dict[str, str] | None:
        """Route values for a percent-encoded request path, or None when it does not match."""
        found = self.pattern.fullmatch(raw_path)
        if found is None:
            return None
        values: dict[str, str] = {}
        for param in self.params:
            raw = found.group(param.group)
            if raw is None or raw == "":
                if param.default is not None:
                    values[param.name] = param.default
                continue
            value = unquote(raw)
            if not all(check(value) for check in param.checks):
                return None
            values[param.name] = value
        return values


def compile_route(template: str) -> RouteTemplate:
    """Compile a route template (the full path without the leading slash)."""
    stripped = template.strip("/")
    segments = stripped.split("/") if stripped else []
    pieces: list[str] = []
    params: list[_Param] = []
    precedence: list[int] = []
    for index, segment in enumerate(segments):
        if not segment:
            raise ValueError(f"route {template!r} has an empty segment")
        parts = _split_segment(template, segment, len(params))
        tokens = [p for p in parts if isinstance(p, _Param)]
        params.extend(tokens)
        if len(parts) == 1 and tokens:
            param = tokens[0]
            if param.catch_all and index != len(segments) - 1:
                raise ValueError(f"route {template!r}: a catch-all parameter must come last")
            inner = ".*" if param.catch_all else "[^/]+"
            if param.optional or param.default is not None or param.catch_all:
                pieces.append(f"(?:/(?P<{param.group}>{inner}))?")
            else:
                pieces.append(f"/(?P<{param.group}>{inner})")
            precedence.append(
                _CATCH_ALL if param.catch_all else _CONSTRAINED if param.checks else _PARAMETER
            )
            continue
        regex = ""
        for part in parts:
            if isinstance(part, str):
                regex += re.escape(part)
                continue
            if part.optional or part.default is not None or part.catch_all:
                raise ValueError(
                    f"route {template!r}: optional, default and catch-all parameters must "
                    "fill a whole segment"
                )
            regex += f"(?P<{part.group}>[^/]+)"
        pieces.append("/" + regex)
        precedence.append(_COMPLEX if tokens else _LITERAL)
    names = [p.name.lower() for p in params]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"route {template!r} repeats parameter {duplicates[0]!r}")
    # A trailing slash is ignored, as in ASP.NET Core routing.
    pattern = re.compile("".join(pieces) + "/?" if pieces else "/?", re.IGNORECASE)
    return RouteTemplate(stripped, pattern, tuple(params), tuple(precedence))


def _split_segment(template: str, segment: str, first_index: int) -> list[str | _Param]:
    parts: list[str | _Param] = []
    position = 0
    while position < len(segment):
        start = segment.find("{", position)
        if start < 0:
            literal = segment[position:]
            if "}" in literal:
                raise ValueError(f"route {template!r} has an unmatched '}}'")
            parts.append(literal)
            break
        if start > position:
            if "}" in segment[position:start]:
                raise ValueError(f"route {template!r} has an unmatched '}}'")
            parts.append(segment[position:start])
        end = _closing_brace(template, segment, start)
        if parts and isinstance(parts[-1], _Param):
            raise ValueError(
                f"route {template!r}: parameters in one segment must be separated by a literal"
            )
        index = first_index + sum(isinstance(part, _Param) for part in parts)
        parts.append(_parse_param(template, segment[start + 1 : end], index))
        position = end + 1
    return parts


def _closing_brace(template: str, segment: str, start: int) -> int:
    depth = 0  # regex(...) constraints may hold braces of their own
    for index in range(start, len(segment)):
        if segment[index] == "{":
            depth += 1
        elif segment[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    raise ValueError(f"route {template!r} has an unmatched '{{'")


def _parse_param(template: str, text: str, index: int) -> _Param:
    head = _NAME_RE.match(text)
    if head is None:
        raise ValueError(f"route {template!r}: {{{text}}} is not a valid parameter")
    catch_all = head.group(1) is not None
    name = head.group(2)
    rest = text[head.end() :]
    checks: list[Check] = []
    while rest.startswith(":"):
        constraint = _CONSTRAINT_RE.match(rest, 1)
        if constraint is None:
            raise ValueError(f"route {template!r}: parameter {name!r} has an empty constraint")
        rest = rest[constraint.end() :]
        argument: str | None = None
        if rest.startswith("("):
            close = _closing_paren(rest)
            if close < 0:
                raise ValueError(f"route {template!r}: unbalanced '(' in parameter {name!r}")
            argument, rest = rest[1:close], rest[close + 1 :]
        checks.append(_constraint(template, name, constraint.group(0).lower(), argument))
    optional = False
    default: str | None = None
    if rest == "?":
        optional = True
    elif rest.startswith("="):
        default = rest[1:]
    elif rest:
        raise ValueError(f"route {template!r}: cannot read {rest!r} in parameter {name!r}")
    if catch_all and (optional or default is not None):
        raise ValueError(f"route {template!r}: a catch-all parameter is already optional")
    return _Param(name, f"p{index}", tuple(checks), optional, default, catch_all)


def _closing_paren(text: str) -> int:
    depth = 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _constraint(template: str, param: str, name: str, argument: str | None) -> Check:
    def fail(reason: str) -> ValueError:
        return ValueError(f"route {template!r}: constraint {name!r} of {param!r} {reason}")

    simple: Mapping[str, Check] = {
        "int": lambda v: _is_int(v, 32),
        "long": lambda v: _is_int(v, 64),
        "bool": lambda v: v.lower() in ("true", "false"),
        "guid": lambda v: _GUID_RE.fullmatch(v) is not None,
        "alpha": lambda v: v.isascii() and v.isalpha(),
        "decimal": _is_number,
        "double": _is_number,
        "float": _is_number,
        "datetime": _is_datetime,
    }
    if name in simple:
        if argument is not None:
            raise fail("takes no argument")
        return simple[name]
    if name == "regex":
        if not argument:
            raise fail("needs a pattern")
        # Route templates escape braces by doubling them: regex(^[a-z]{{2}}$).
        expression = argument.replace("{{", "{").replace("}}", "}")
        try:
            compiled = re.compile(expression, re.IGNORECASE)
        except re.error as e:
            raise fail(f"has an invalid pattern: {e}") from None
        return lambda v: compiled.search(v) is not None
    numbers = _int_arguments(argument)
    if numbers is None:
        raise fail("is unknown" if name not in _RANGE_CONSTRAINTS else "needs whole numbers")
    if name not in _RANGE_CONSTRAINTS or len(numbers) not in _RANGE_CONSTRAINTS[name]:
        raise fail("is unknown or has the wrong number of arguments")
    if name == "minlength":
        return lambda v: len(v) >= numbers[0]
    if name == "maxlength":
        return lambda v: len(v) <= numbers[0]
    if name == "length":
        low, high = (numbers[0], numbers[0]) if len(numbers) == 1 else (numbers[0], numbers[1])
        return lambda v: low <= len(v) <= high
    if name == "min":
        return lambda v: _is_int(v, 64) and int(v) >= numbers[0]
    if name == "max":
        return lambda v: _is_int(v, 64) and int(v) <= numbers[0]
    return lambda v: _is_int(v, 64) and numbers[0] <= int(v) <= numbers[1]  # range


_RANGE_CONSTRAINTS: Mapping[str, tuple[int, ...]] = {
    "minlength": (1,),
    "maxlength": (1,),
    "length": (1, 2),
    "min": (1,),
    "max": (1,),
    "range": (2,),
}


def _int_arguments(argument: str | None) -> list[int] | None:
    if argument is None:
        return None
    items = [item.strip() for item in argument.split(",")]
    if not all(_INT_RE.fullmatch(item) for item in items):
        return None
    return [int(item) for item in items]


def _is_int(value: str, bits: int) -> bool:
    if _INT_RE.fullmatch(value) is None:
        return False
    limit = 1 << (bits - 1)
    return -limit <= int(value) < limit


def _is_number(value: str) -> bool:
    return _NUMBER_RE.fullmatch(value) is not None and math.isfinite(float(value))


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True
