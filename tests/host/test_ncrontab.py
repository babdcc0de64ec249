from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from devtools import ncrontab
from shared.config import SETTING_DEFAULTS


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # seconds field
        ("*/15 * * * * *", "2024-05-01T10:00:14", "2024-05-01T10:00:15"),
        ("30 * * * * *", "2024-05-01T10:00:30", "2024-05-01T10:01:30"),
        # across the minute, hour, day, month and year boundaries
        ("* * * * * *", "2024-12-31T23:59:59.900", "2025-01-01T00:00:00"),
        ("0 * * * * *", "2024-05-01T10:59:00", "2024-05-01T11:00:00"),
        ("0 0 * * * *", "2024-05-01T23:00:00", "2024-05-02T00:00:00"),
        ("0 0 0 * * *", "2024-04-30T12:00:00", "2024-05-01T00:00:00"),
        ("0 0 0 1 * *", "2024-02-15T00:00:00", "2024-03-01T00:00:00"),
        # ranges, lists and stepped ranges
        ("0 5-7 * * * *", "2024-05-01T10:07:00", "2024-05-01T11:05:00"),
        ("0 0 8,12,18 * * *", "2024-05-01T12:00:00", "2024-05-01T18:00:00"),
        ("0 10-40/15 * * * *", "2024-05-01T10:26:00", "2024-05-01T10:40:00"),
        ("0 5/20 * * * *", "2024-05-01T10:46:00", "2024-05-01T11:05:00"),  # 5, 25, 45
        # names and day-of-week (0 = Sunday); 2024-05-01 is a Wednesday
        ("0 30 9 * * Mon-Fri", "2024-05-03T09:30:00", "2024-05-06T09:30:00"),
        ("0 0 0 * * sun", "2024-05-01T00:00:00", "2024-05-05T00:00:00"),
        ("0 0 0 * * 0", "2024-05-01T00:00:00", "2024-05-05T00:00:00"),
        ("0 0 0 1 Jan,JULY *", "2024-02-01T00:00:00", "2024-07-01T00:00:00"),
        # any prefix of a name, first match wins (NCrontab): M = March, T = Tuesday
        ("0 0 0 1 M *", "2024-01-01T00:00:00", "2024-03-01T00:00:00"),
        ("0 0 0 * * t", "2024-05-01T00:00:00", "2024-05-07T00:00:00"),
        # day and day-of-week must both match (NCrontab), so this is a Friday the 13th
        ("0 0 12 13 * Fri", "2024-01-01T00:00:00", "2024-09-13T12:00:00"),
        # 29 February only exists in leap years
        ("0 0 0 29 2 *", "2024-03-01T00:00:00", "2028-02-29T00:00:00"),
        # 31st skips the shorter months
        ("0 0 0 31 * *", "2024-04-01T00:00:00", "2024-05-31T00:00:00"),
    ],
)
def test_next_after(expression: str, after: str, expected: str) -> None:
    schedule = ncrontab.parse(expression)
    result = schedule.next_after(at(after))
    assert result == at(expected)
    assert result.tzinfo is not None
    assert schedule.matches(result)


def test_next_after_is_strictly_later_and_treats_naive_and_other_zones_as_instants() -> None:
    every_minute = ncrontab.parse("0 * * * * *")
    assert every_minute.next_after(at("2024-05-01T10:00:00")) == at("2024-05-01T10:01:00")
    assert every_minute.next_after(datetime(2024, 5, 1, 10, 0, 30)) == at("2024-05-01T10:01:00")
    plus_two = timezone(timedelta(hours=2))
    local = datetime(2024, 5, 1, 12, 0, 30, tzinfo=plus_two)  # 10:00:30 UTC
    assert every_minute.next_after(local) == at("2024-05-01T10:01:00")


def test_parsed_fields() -> None:
    schedule = ncrontab.parse("0,30 */20 9-17/4 1-3 Feb-Apr Sat")
    assert schedule.seconds == (0, 30)
    assert schedule.minutes == (0, 20, 40)
    assert schedule.hours == (9, 13, 17)
    assert schedule.days == (1, 2, 3)
    assert schedule.months == (2, 3, 4)
    assert schedule.days_of_week == (6,)


@pytest.mark.parametrize(
    ("expression", "field", "values"),
    [
        # An equal range is its one value in NCrontab; croniter alone reads it as every value.
        ("5-5 * * * * *", "seconds", (5,)),
        ("0 0 0 * Jan-January *", "months", (1,)),
        ("0 0 0 * * Sun-Sun", "days_of_week", (0,)),
        ("0 7-7/3 * * * *", "minutes", (7,)),
        # "a/n" at the field's maximum is that value alone.
        ("0 59/15 * * * *", "minutes", (59,)),
        # Steps larger than the field, and zero-padded numbers.
        ("*/100 * * * * *", "seconds", (0,)),
        ("0 05 * * * *", "minutes", (5,)),
        ("0 0 0 * * 1/2", "days_of_week", (1, 3, 5)),
    ],
)
def test_field_values_as_ncrontab_reads_them(
    expression: str, field: str, values: tuple[int, ...]
) -> None:
    schedule = ncrontab.parse(expression)
    assert getattr(schedule, field) == values


def test_an_equal_range_fires_once_per_cycle_not_every_time() -> None:
    schedule = ncrontab.parse("5-5 * * * * *")
    assert schedule.next_after(at("2024-05-01T10:00:05")) == at("2024-05-01T10:01:05")
    assert not schedule.matches(at("2024-05-01T10:00:06"))


def test_matches_only_the_instants_of_the_schedule() -> None:
    friday_13th = ncrontab.parse("0 0 12 13 * Fri")
    assert friday_13th.matches(at("2024-09-13T12:00:00"))
    assert friday_13th.matches(datetime(2024, 9, 13, 12, 0, 0))  # naive = UTC
    assert not friday_13th.matches(at("2024-10-13T12:00:00"))  # a Sunday: both must match
    assert not friday_13th.matches(at("2024-09-13T12:00:01"))
    assert not friday_13th.matches(at("2024-09-13T11:59:59"))


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 */5 * * *", "has 5 field(s)"),
        ("0 0 */5 * * * *", "has 7 field(s)"),
        ("", "has 0 field(s)"),
        ("60 * * * * *", "second field '60'"),
        ("* 60 * * * *", "minute field '60'"),
        ("* * 24 * * *", "hour field '24'"),
        ("* * * 0 * *", "out of range 1-31"),
        ("* * * * 13 *", "month field '13'"),
        ("* * * * * 7", "out of range 0-6"),
        ("* * * * Foo *", "'Foo' is neither a number 1-12 nor a known name"),
        ("* * * * * Ju", "nor a known name"),  # no weekday starts with "ju"
        ("* * * * Sunday *", "nor a known name"),  # a weekday name in the month field
        ("*/0 * * * * *", "step '0'"),
        ("*/x * * * * *", "step 'x'"),
        ("10-5 * * * * *", "runs backwards"),
        ("1,,2 * * * * *", "empty list item"),
        ("-1 * * * * *", "is not a number"),
        ("0 0 0 31 2 *", "never fires"),
        ("0 0 0 * * * %X%", "placeholder"),
        # croniter's extensions that NCRONTAB does not have
        ("0 0 0 L * *", "'L' is not a number 1-31"),
        ("0 0 0 ? * *", "'?' is not a number 1-31"),
        ("0 0 0 15W * *", "'15W' is not a number 1-31"),
        ("0 0 0 * * 1#2", "'1#2' is neither a number 0-6"),
        ("H * * * * *", "'H' is not a number 0-59"),
        ("0 0 0 1 1 * 2030", "has 7 field(s)"),  # no year field
    ],
)
def test_invalid_expressions_name_the_problem(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ncrontab.parse(expression)


def test_placeholders_resolve_from_environment_first() -> None:
    env = {"RENEW": "0 */5 * * * *", "KAIZALA_RENEW_SCHEDULE": "0 0 */2 * * *"}
    assert ncrontab.resolve_placeholders("%RENEW%", env, {}) == "0 */5 * * * *"
    resolved = ncrontab.resolve_placeholders("%KAIZALA_RENEW_SCHEDULE%", env, SETTING_DEFAULTS)
    assert resolved == "0 0 */2 * * *"
    assert ncrontab.resolve_placeholders("0 %M% * * * *", {"M": "7"}, {}) == "0 7 * * * *"
    assert ncrontab.resolve_placeholders("0 0 * * * *", {}, {}) == "0 0 * * * *"


def test_placeholders_fall_back_to_setting_defaults_also_for_blank_values() -> None:
    default = SETTING_DEFAULTS["KAIZALA_RENEW_SCHEDULE"]
    for env in ({}, {"KAIZALA_RENEW_SCHEDULE": "  "}):
        resolved = ncrontab.resolve_placeholders("%KAIZALA_RENEW_SCHEDULE%", env, SETTING_DEFAULTS)
        assert resolved == default
    ncrontab.parse(default)  # the documented default is itself a valid schedule


def test_unresolved_placeholder_names_the_setting() -> None:
    with pytest.raises(ValueError, match="'NOT_A_SETTING'"):
        ncrontab.resolve_placeholders("%NOT_A_SETTING%", {}, SETTING_DEFAULTS)
