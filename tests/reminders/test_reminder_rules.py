"""The reminder window rule (shared/domain/reminders.py), on its own."""

from __future__ import annotations

import pytest

from shared.domain.reminders import IN_FLIGHT_MS, ReminderSlot, decide, shown_state, window_ms

WINDOW = window_ms(12)
T = 1_800_000_000_000


def test_window_is_in_milliseconds() -> None:
    assert WINDOW == 12 * 3600 * 1000


@pytest.mark.parametrize(
    ("slot", "now", "expected"),
    [
        (None, T, "free"),
        (ReminderSlot(0, "sent", None), T, "free"),  # a released slot
        (ReminderSlot(T, "sent", "r"), T + WINDOW - 1, "taken"),
        (ReminderSlot(T, "sent", "r"), T + WINDOW, "free"),
        (ReminderSlot(T, "unconfirmed", None), T + WINDOW - 1, "taken"),
        (ReminderSlot(T, "sending", None), T + IN_FLIGHT_MS - 1, "in-flight"),
        # A `sending` slot whose instance vanished counts, like an unconfirmed reminder.
        (ReminderSlot(T, "sending", None), T + IN_FLIGHT_MS, "taken"),
        (ReminderSlot(T, "sending", None), T + WINDOW, "free"),
    ],
)
def test_decide(slot: ReminderSlot | None, now: int, expected: str) -> None:
    assert decide(slot, now, WINDOW) == expected


def test_only_a_confirmed_reminder_shows_as_sent() -> None:
    assert shown_state(ReminderSlot(T, "sent", "r")) == "sent"
    assert shown_state(ReminderSlot(T, "unconfirmed", None)) == "unconfirmed"
    assert shown_state(ReminderSlot(T, "sending", None)) == "unconfirmed"
