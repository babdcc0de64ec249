"""The one retry policy and the one Retry-After parser."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from shared.adapters.retry import RetryPolicy, parse_retry_after

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        (format_datetime(datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC), usegmt=True), 30.0),
        (format_datetime(datetime(2026, 12, 1, 11, 0, 0, tzinfo=UTC), usegmt=True), 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_post_is_retried_only_when_provably_not_sent() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry(1, method="POST", status=None, sent=False)
    assert policy.should_retry(1, method="POST", status=429)
    assert not policy.should_retry(1, method="POST", status=None)  # a read timeout: maybe acted
    assert not policy.should_retry(1, method="POST", status=503)
    assert not policy.should_retry(1, method="POST", status=400)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "get"])
def test_idempotent_calls_retry_transient_failures_only(method: str) -> None:
    policy = RetryPolicy(max_attempts=3)
    for status in (None, 408, 500, 502, 503, 504, 429):
        assert policy.should_retry(1, method=method, status=status), status
    for status in (400, 401, 403, 404, 409, 412):
        assert not policy.should_retry(1, method=method, status=status), status


def test_attempts_are_bounded() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry(2, method="GET", status=503)
    assert not policy.should_retry(3, method="GET", status=503)
    assert not policy.should_retry(3, method="POST", sent=False)
    assert not RetryPolicy(max_attempts=1).should_retry(1, method="GET", status=None)


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    top = RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=lambda: 1.0)
    assert [top.backoff(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    bottom = RetryPolicy(jitter=lambda: 0.0)
    assert bottom.backoff(4) == 0.0
    half = RetryPolicy(base_delay=1.0, max_delay=100.0, jitter=lambda: 0.5)
    assert half.backoff(3) == 2.0


def test_retry_after_replaces_the_backoff_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_retry_after=60.0, jitter=lambda: 1.0)
    assert policy.sleep_time(1, retry_after=5.0) == 5.0
    assert policy.sleep_time(1, retry_after=0.0) == 0.0
    assert policy.sleep_time(1, retry_after=600.0) == 60.0
    assert policy.sleep_time(1, retry_after=-1.0) == 0.0
    assert policy.sleep_time(3, retry_after=None) == 4.0
    assert policy.sleep_time(3, retry_after=float("nan")) == 4.0
