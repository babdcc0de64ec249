"""The `$filter` / `$orderby` / `$top` subset the simulator answers (see README.md)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from devtools.dataverse_sim.odata import CODE_QUERY, GUID_RE, ODataError

_FILTER_CLAUSE_RE = re.compile(r"^\s*(?P<col>[a-z_]+)\s+(?P<op>eq|ne)\s+(?P<val>.+?)\s*$", re.I)
_AND_RE = re.compile(r"\s+and\s+", re.I)


def select_rows(
    rows: list[dict[str, Any]],
    columns: frozenset[str],
    type_name: str,
    filter_text: str | None,
    orderby: str | None,
    top: int | None,
) -> list[dict[str, Any]]:
    """The rows that pass the filter, in the requested order, at most `top` of them."""
    clauses = _parse_filter(filter_text, columns, type_name)
    rows = [r for r in rows if _matches(r, clauses)]
    # Stable sorts applied last key first give the multi-key order.
    for col, descending in reversed(_parse_orderby(orderby, columns, type_name)):
        rows.sort(key=functools.partial(_sort_key, col), reverse=descending)
    return rows[:top] if top is not None else rows


def _parse_filter(
    text: str | None, columns: frozenset[str], type_name: str
) -> list[tuple[str, str, Any]]:
    if not text:
        return []
    clauses = []
    for part in _AND_RE.split(text.strip()):
        match = _FILTER_CLAUSE_RE.match(part)
        if match is None:
            raise ODataError(
                400,
                CODE_QUERY,
                "The simulator supports only '<column> eq|ne <value>' clauses joined by 'and'.",
            )
        col = match["col"]
        if col not in columns:
            raise ODataError(
                400, CODE_QUERY, f"Could not find a property named '{col}' on type '{type_name}'."
            )
        clauses.append((col, match["op"].lower(), _literal(match["val"])))
    return clauses


def _literal(text: str) -> Any:
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1].replace("''", "'")
    if GUID_RE.match(text):
        return text.lower()
    if text == "null":
        return None
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        raise ODataError(400, CODE_QUERY, f"Unsupported literal '{text[:60]}'.") from None


def _matches(row: Mapping[str, Any], clauses: list[tuple[str, str, Any]]) -> bool:
    for col, op, value in clauses:
        actual = row.get(col)
        if isinstance(actual, str) and isinstance(value, str) and GUID_RE.match(value):
            actual = actual.lower()
        if (actual == value) != (op == "eq"):
            return False
    return True


def _parse_orderby(
    text: str | None, columns: frozenset[str], type_name: str
) -> list[tuple[str, bool]]:
    if not text:
        return []
    order = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise ODataError(400, CODE_QUERY, f"Invalid $orderby clause '{part[:60]}'.")
        if words[0] not in columns:
            raise ODataError(
                400,
                CODE_QUERY,
                f"Could not find a property named '{words[0]}' on type '{type_name}'.",
            )
        order.append((words[0], len(words) == 2 and words[1] == "desc"))
    return order


def _sort_key(column: str, row: Mapping[str, Any]) -> tuple[int, Any]:
    # Nulls first in ascending order, as SQL Server sorts them.
    value = row.get(column)
    return (0, 0) if value is None else (1, value)
