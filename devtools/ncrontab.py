"""NCRONTAB schedules as the Azure Functions timer trigger reads them, evaluated by croniter.

Six fields, seconds first: ``{second} {minute} {hour} {day} {month} {day-of-week}``. Each field is
``*``, a value, a range ``a-b``, a list ``a,b,c`` or a step (``*/n``, ``a-b/n``, ``a/n`` = from
``a`` to the field's maximum). Day-of-week runs 0-6 with 0 = Sunday. Months and weekdays also
take English names, case-insensitive; as in NCrontab (the library the Functions host uses) any
prefix of the full name works and the first match wins: ``Jan``, ``January``, ``mon``, and
``M`` is March, ``T`` Tuesday. Also as in NCrontab, day-of-month and day-of-week must BOTH
match, unlike Vixie cron's "either" (croniter's ``day_or=False``).

croniter expands the fields, finds occurrences and matches instants. What is still written by
hand here is the part of NCRONTAB that croniter does not have, or reads differently:

- ``%SETTING%`` placeholders, resolved from app settings (croniter knows nothing of them);
- the grammar check, which turns each field into plain numbers before croniter sees it. It
  exists because croniter's grammar is wider than NCRONTAB's (5 or 7 fields, ``L``, ``W``,
  ``#``, ``?``, ``H``, 7 = Sunday) and would accept schedules the Functions host refuses;
  because croniter only knows three-letter names, where NCrontab takes any prefix; because
  croniter reads an equal range ``5-5`` as the whole cycle, where NCrontab reads the one
  value, and wraps a backwards range ``10-5`` around, where NCrontab swaps its ends; and
  because croniter's errors do not say which field is wrong. A backwards range and a step of
  0 (NCrontab: a step of 1) are refused here: both are more likely slips than intent.

The timer runner's own rules (no overlapping runs, past due) live in devtools.host.timers.
TimeSpan schedules (``hh:mm:ss``) are not supported, as before: they only exist on App Service
plans. Times are UTC: the Functions host evaluates schedules in UTC unless WEBSITE_TIME_ZONE is
set, which the local host does not emulate. Pure module: no I/O, no clock, no environment access.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

# croniter ships no type hints (types-croniter is not installed); every use is wrapped below.
from croniter import CroniterError, croniter  # type: ignore[import-untyped]

__all__ = ["Schedule", "parse", "resolve_placeholders"]

_MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] is value low + i


_FIELDS = (
    _FieldSpec("second", 0, 59),
    _FieldSpec("minute", 0, 59),
    _FieldSpec("hour", 0, 23),
    _FieldSpec("day", 1, 31),
    _FieldSpec("month", 1, 12, _MONTH_NAMES),
    _FieldSpec("day-of-week", 0, 6, _DAY_NAMES),
)
# croniter.expand() with second_at_beginning=True lists the seconds last.
_EXPANDED_ORDER = (5, 0, 1, 2, 3, 4)

_PLACEHOLDER_RE = re.compile(r"%([^%\s]+)%")

# Any fixed instant will do to ask croniter whether a schedule can fire at all: a schedule
# that can, does within 28 years (the weekday/leap-year cycle) and croniter looks 50 ahead.
_SATISFIABLE_FROM = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Schedule:
    """A parsed NCRONTAB expression; every field is the sorted tuple of the values it allows."""

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    days_of_week: tuple[int, ...]
    numeric: str = field(repr=False)  # the numbers-only form croniter reads

    def matches(self, moment: datetime) -> bool:
        return bool(
            croniter.match(self.numeric, _as_utc(moment), day_or=False, second_at_beginning=True)
        )

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (naive = UTC), as an aware UTC datetime."""
        try:
            found = _cron(self.numeric, _as_utc(moment)).get_next(datetime)
        except CroniterError:
            raise ValueError(
                f"schedule {self.expression!r} has no occurrence after {moment}"
            ) from None
        return cast(datetime, found).astimezone(UTC)


def parse(expression: str) -> Schedule:
    """Parse a six-field NCRONTAB expression; ValueError says which field is wrong and why."""
    if not isinstance(expression, str):
        raise ValueError(f"schedule must be a string, not {type(expression).__name__}")
    if "%" in expression:
        raise ValueError(
            f"schedule {expression!r} still holds a %SETTING% placeholder; resolve it first"
        )
    tokens = expression.split()
    if len(tokens) != len(_FIELDS):
        raise ValueError(
            f"schedule {expression!r} has {len(tokens)} field(s); an Azure Functions NCRONTAB "
            "expression needs exactly 6: {second} {minute} {hour} {day} {month} {day-of-week}"
        )
    numeric = " ".join(
        _numeric_field(spec, token, expression) for spec, token in zip(_FIELDS, tokens, strict=True)
    )
    try:
        expanded: list[list[Any]] = croniter.expand(numeric, second_at_beginning=True)[0]
        _cron(numeric, _SATISFIABLE_FROM).get_next(datetime)
    except CroniterError:
        # The fields are checked above, so what is left is a day that no month has.
        raise ValueError(
            f"schedule {expression!r} never fires: none of the days exists in any of the months"
        ) from None
    seconds, minutes, hours, days, months, days_of_week = (
        _values(spec, expanded[i]) for spec, i in zip(_FIELDS, _EXPANDED_ORDER, strict=True)
    )
    return Schedule(
        expression, seconds, minutes, hours, days, months, days_of_week, numeric=numeric
    )


def resolve_placeholders(
    expression: str, environ: Mapping[str, str], defaults: Mapping[str, str]
) -> str:
    """Replace every ``%NAME%`` with the app setting NAME, falling back to `defaults`.

    The Functions host resolves ``%NAME%`` from app settings; a blank value counts as unset
    (as in shared.config), so the documented default applies. ValueError names the setting that
    cannot be resolved.
    """

    def value_of(match: re.Match[str]) -> str:
        name = match.group(1)
        value = environ.get(name)
        if value is None or not value.strip():
            value = defaults.get(name)
        if value is None or not value.strip():
            raise ValueError(
                f"schedule {expression!r} refers to setting {name!r}, which is not set "
                "and has no default"
            )
        return value.strip()

    return _PLACEHOLDER_RE.sub(value_of, expression)


def _cron(numeric: str, start: datetime) -> Any:
    return croniter(numeric, start, second_at_beginning=True, day_or=False)


def _values(spec: _FieldSpec, expanded: list[Any]) -> tuple[int, ...]:
    if expanded == ["*"]:
        return tuple(range(spec.low, spec.high + 1))
    return tuple(sorted(int(value) for value in expanded))


def _numeric_field(spec: _FieldSpec, token: str, expression: str) -> str:
    where = f"{spec.name} field {token!r} of schedule {expression!r}"
    parts = []
    for part in token.split(","):
        if not part:
            raise ValueError(f"{where} has an empty list item")
        parts.append(_numeric_part(spec, part, where))
    return ",".join(parts)


def _numeric_part(spec: _FieldSpec, part: str, where: str) -> str:
    base, slash, step_text = part.partition("/")
    step = ""
    if slash:
        if not _is_number(step_text) or int(step_text) == 0:
            raise ValueError(f"{where}: step {step_text!r} must be a whole number of at least 1")
        step = f"/{int(step_text)}"
    if base == "*":
        return "*" + step
    first_text, dash, last_text = base.partition("-")
    first = _parse_value(spec, first_text, where)
    if not dash:
        # "a/n" means every n-th value from a to the field's maximum; croniter reads it so too.
        return f"{first}{step}"
    last = _parse_value(spec, last_text, where)
    if last < first:
        raise ValueError(f"{where}: range {base!r} runs backwards")
    if last == first:
        return str(first)  # one value; croniter would read "a-a" as the whole cycle
    return f"{first}-{last}{step}"


def _parse_value(spec: _FieldSpec, text: str, where: str) -> int:
    if _is_number(text):
        value = int(text)
        if not spec.low <= value <= spec.high:
            raise ValueError(
                f"{where}: value {value} is out of range {spec.low}-{spec.high}"
                + (" (0 = Sunday)" if spec.name == "day-of-week" else "")
            )
        return value
    if spec.names and text:
        lowered = text.lower()
        for offset, name in enumerate(spec.names):
            if name.startswith(lowered):
                return spec.low + offset
    if spec.names:
        raise ValueError(
            f"{where}: {text!r} is neither a number {spec.low}-{spec.high} nor a known name "
            f"({', '.join(n[:3].title() for n in spec.names)})"
        )
    raise ValueError(f"{where}: {text!r} is not a number {spec.low}-{spec.high}")


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()  # str.isdigit alone accepts "²" and friends


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
