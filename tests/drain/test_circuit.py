"""The Dataverse circuit and request window as pure state machines, on an injected clock."""

from __future__ import annotations

import pytest

from shared.domain.circuit import Circuit, RequestWindow


def state(c: Circuit) -> str:
    return c.state  # read afresh each time (mypy would narrow a property across calls)


class Tick:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_n_consecutive_failures_and_a_success_resets_the_count() -> None:
    t = Tick()
    c = Circuit(3, 30, clock=t)
    assert not c.failed() and not c.failed()
    c.succeeded()  # the count starts again
    assert not c.failed() and not c.failed()
    assert state(c) == "closed" and c.acquire() is False
    assert c.failed()  # the third in a row
    assert state(c) == "open" and c.blocked() and c.acquire() is None
    assert c.retry_in() == 30


def test_half_open_lets_one_probe_through_and_its_success_closes() -> None:
    t = Tick()
    c = Circuit(1, 30, clock=t)
    c.failed()
    t.now += 29.9
    assert c.blocked()
    t.now += 0.1
    assert state(c) == "half-open" and not c.blocked()
    assert c.acquire() is True  # the probe
    assert c.blocked() and c.acquire() is None  # no second caller meanwhile
    c.succeeded()
    assert state(c) == "closed" and c.acquire() is False


def test_a_failed_probe_opens_again_for_the_whole_time() -> None:
    t = Tick()
    c = Circuit(5, 30, clock=t)
    for _ in range(5):
        c.failed()
    t.now += 30
    assert c.acquire() is True
    assert c.failed()  # one failure is enough when half-open
    assert state(c) == "open" and c.retry_in() == 30


def test_a_429_opens_at_once_for_its_whole_retry_after() -> None:
    t = Tick()
    c = Circuit(5, 30, clock=t)
    assert c.failed(throttled=True, retry_after=120)
    assert c.retry_in() == 120  # longer than open_seconds: honoured whole
    t.now += 119
    assert c.blocked()
    t.now += 1
    assert not c.blocked()
    c2 = Circuit(5, 30, clock=t)
    c2.failed(throttled=True, retry_after=2)
    assert c2.retry_in() == 2  # shorter: neither padded to open_seconds


def test_answers_to_calls_sent_before_a_429_do_not_close_it() -> None:
    t = Tick()
    c = Circuit(5, 30, clock=t)
    c.failed(throttled=True, retry_after=10)
    c.succeeded()  # a concurrent call that was already on its way
    assert state(c) == "open" and c.retry_in() == 10


def test_a_probe_released_without_an_answer_lets_the_next_caller_probe() -> None:
    t = Tick()
    c = Circuit(1, 5, clock=t)
    c.failed()
    t.now += 5
    assert c.acquire() is True
    c.released()
    assert c.acquire() is True


def test_the_request_window_never_holds_more_than_its_limit() -> None:
    t = Tick()
    w = RequestWindow(3, 300, clock=t)
    assert [w.reserve() for _ in range(3)] == [0, 0, 0]
    t.now += 100
    assert w.reserve() == pytest.approx(200)  # the first one leaves the window at +300
    t.now += 200
    assert w.reserve() == 0  # the three of t=0 have left the window
    assert w.in_window() == 1
