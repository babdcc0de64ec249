"""The one reader of JSON from a request: nesting bounded before the parser sees it.

Python's parser recurses once per `[`/`{`: a body nested ~1,000 deep raises RecursionError
(a 500 and a traceback) however small it is. `loads` first counts the nesting with a linear
scan over the text (brackets inside strings do not count) and refuses anything deeper than
`MAX_JSON_DEPTH` as a 400; it also refuses what is not JSON (RFC 8259: no NaN, no Infinity).
Every JSON body the bridge reads goes through it: `functions.http.parse_body` and the webhook
intake.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.errors import ValidationError

# No body the bridge reads nests near this: a webhook event or a RemoteExecutionContext with
# its parent contexts stays under 20 levels.
MAX_JSON_DEPTH = 64
NOT_JSON = "The body is not valid JSON."

# The only characters that matter to the nesting: brackets, and what starts, ends or escapes
# inside a string. One regex pass finds them all; it never backtracks.
_STRUCTURE = re.compile(r'[\[\]{}"\\]')


def exceeds_depth(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when `text` nests arrays/objects deeper than `limit` (strings are skipped)."""
    if text.count("[") + text.count("{") <= limit:
        return False  # cannot nest deeper than it has openers
    depth = 0
    in_string = False
    escaped = -1  # the position of the character a backslash escapes
    for match in _STRUCTURE.finditer(text):
        pos = match.start()
        if pos == escaped:
            continue
        char = match.group()
        if in_string:
            if char == "\\":
                escaped = pos + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1  # below 0 is not JSON; the parser says so
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class JsonRefused(ValueError):
    """Not JSON, or nested deeper than the limit (a ValueError, as `json.loads` raises)."""


def decode(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value of `raw`, for answers from other systems (the adapters).

    Raises JsonRefused (a ValueError): not JSON, or nested deeper than `max_depth`, so a hostile
    or broken upstream answer can never reach Python's recursion limit.
    """
    try:
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")
    except UnicodeDecodeError:
        raise JsonRefused(NOT_JSON) from None
    if exceeds_depth(text, max_depth):
        raise JsonRefused(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError:  # JSONDecodeError, a NaN, an integer over Python's digit limit
        raise JsonRefused(NOT_JSON) from None


def loads(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value of a request body (UTF-8, -16 or -32, as `json.loads` detects it).

    Raises ValidationError (400): not JSON, or nested deeper than `max_depth`.
    """
    try:
        return decode(raw, max_depth)
    except JsonRefused as exc:
        if str(exc) == NOT_JSON:
            raise ValidationError(NOT_JSON) from None
        raise ValidationError(
            f"The body is nested deeper than {max_depth} levels.",
            [{"field": "(body)", "message": "nested too deep"}],
        ) from None
