"""NCRONTAB schedules as the Azure Functions timer trigger reads them.

Six fields, seconds first: ``{second} {minute} {hour} {day} {month} {day-of-week}``. Each field is
``*``, a value, a range ``a-b``, a list ``a,b,c`` or a step (``*/n``, ``a-b/n``, ``a/n`` = from
``a`` to the field's maximum). Day-of-week runs 0-6 with 0 = Sunday. Months and weekdays also
take English names, case-insensitive; as in NCrontab (the library the Functions host uses) any
prefix of the full name works and the first match wins: ``Jan``, ``January``, ``mon``, and
``M`` is March, ``T`` Tuesday. Also as in NCrontab, day-of-month and day-of-week must BOTH
match, unlike Vixie cron's "either".

Times are UTC: the Functions host evaluates schedules in UTC unless WEBSITE_TIME_ZONE is set,
which the local host does not emulate. Pure module: no I/O, no clock, no environment access.
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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

_PLACEHOLDER_RE = re.compile(r"%([^%\s]+)%")

# A schedule that can match at all matches within 28 years (the weekday/leap-year cycle);
# searching further only happens for a bug, so stop rather than loop for ever.
_SEARCH_YEARS = 30


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

    def matches(self, moment: datetime) -> bool:
        t = _as_utc(moment)
        return (
            t.second in self.seconds
            and t.minute in self.minutes
            and t.hour in self.hours
            and t.day in self.days
            and t.month in self.months
            and _cron_weekday(t) in self.days_of_week
        )

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (naive = UTC), as an aware UTC datetime."""
        t = _as_utc(moment).replace(microsecond=0) + timedelta(seconds=1)
        last_year = t.year + _SEARCH_YEARS
        while t.year <= last_year:
            if t.month not in self.months:
                month = _next_value(self.months, t.month)
                if month is None:
                    t = datetime(t.year + 1, self.months[0], 1, tzinfo=UTC)
                else:
                    t = datetime(t.year, month, 1, tzinfo=UTC)
                continue
            if t.day not in self.days or _cron_weekday(t) not in self.days_of_week:
                t = _start_of_day(t) + timedelta(days=1)
                continue
            hour = _next_value(self.hours, t.hour)
            if hour is None:
                t = _start_of_day(t) + timedelta(days=1)
                continue
            if hour != t.hour:
                t = t.replace(hour=hour, minute=0, second=0)
            minute = _next_value(self.minutes, t.minute)
            if minute is None:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
                continue
            if minute != t.minute:
                t = t.replace(minute=minute, second=0)
            second = _next_value(self.seconds, t.second)
            if second is None:
                t = t.replace(second=0) + timedelta(minutes=1)
                continue
            return t.replace(second=second)
        raise ValueError(f"schedule {self.expression!r} has no occurrence after {moment}")


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
    values = [
        _parse_field(spec, token, expression) for spec, token in zip(_FIELDS, tokens, strict=True)
    ]
    schedule = Schedule(expression, *values)
    _check_satisfiable(schedule)
    return schedule


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


def _parse_field(spec: _FieldSpec, token: str, expression: str) -> tuple[int, ...]:
    where = f"{spec.name} field {token!r} of schedule {expression!r}"
    allowed: set[int] = set()
    for part in token.split(","):
        if not part:
            raise ValueError(f"{where} has an empty list item")
        allowed.update(_parse_part(spec, part, where))
    return tuple(sorted(allowed))


def _parse_part(spec: _FieldSpec, part: str, where: str) -> range:
    base, slash, step_text = part.partition("/")
    step = 1
    if slash:
        if not _is_number(step_text) or int(step_text) == 0:
            raise ValueError(f"{where}: step {step_text!r} must be a whole number of at least 1")
        step = int(step_text)
    if base == "*":
        return range(spec.low, spec.high + 1, step)
    first_text, dash, last_text = base.partition("-")
    first = _parse_value(spec, first_text, where)
    if dash:
        last = _parse_value(spec, last_text, where)
        if last < first:
            raise ValueError(f"{where}: range {base!r} runs backwards")
    else:
        # "a/n" means every n-th value from a to the field's maximum (NCrontab's reading).
        last = spec.high if slash else first
    return range(first, last + 1, step)


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


def _check_satisfiable(schedule: Schedule) -> None:
    # Day 31 in a 30-day month etc. can never fire; leap years give February 29 days.
    longest = {month: calendar.monthrange(2000, month)[1] for month in range(1, 13)}
    if not any(day <= longest[m] for m in schedule.months for day in schedule.days):
        raise ValueError(
            f"schedule {schedule.expression!r} never fires: none of the days exists "
            "in any of the months"
        )


def _next_value(values: tuple[int, ...], current: int) -> int | None:
    index = bisect_left(values, current)
    return values[index] if index < len(values) else None


def _start_of_day(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0)


def _cron_weekday(t: datetime) -> int:
    return (t.weekday() + 1) % 7  # Python: Monday = 0; cron: Sunday = 0


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
