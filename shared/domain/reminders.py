"""Reminders of a sent action: the at-most-one-per-window rule and the answer (pure: no I/O).

An action row holds one reminder slot: when the last reminder was attempted, its state and
Kaizala's referenceId. The slot is taken (`sending`) before the Kaizala call, so the window
counts from the attempt: a reminder whose outcome is unknown (a timeout, a 5xx, or a process
that died in the call) counts as sent, never as a reason to send another one early.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# A `sending` slot younger than this is a reminder still under way (the Kaizala client's
# POST can take a read timeout plus throttling pauses); older, its process is gone.
IN_FLIGHT_MS = 5 * 60 * 1000

SlotState = Literal["sending", "sent", "unconfirmed"]
Decision = Literal["free", "in-flight", "taken"]


@dataclass(frozen=True)
class ReminderSlot:
    at_ms: int  # when the reminder was attempted (the slot taken), epoch ms
    state: SlotState
    reference_id: str | None


def window_ms(min_hours: float) -> int:
    return int(min_hours * 3600 * 1000)


def decide(slot: ReminderSlot | None, now_ms: int, window: int) -> Decision:
    """free: send one now; in-flight: another request is sending it; taken: answer the last."""
    if slot is None or slot.at_ms <= 0:
        return "free"
    if slot.state == "sending" and now_ms - slot.at_ms < IN_FLIGHT_MS:
        return "in-flight"
    if now_ms - slot.at_ms < window:
        return "taken"
    return "free"


def shown_state(slot: ReminderSlot) -> Literal["sent", "unconfirmed"]:
    """What a caller is told: a slot left `sending` by a vanished process is unconfirmed."""
    return "sent" if slot.state == "sent" else "unconfirmed"


class ReminderRequest(BaseModel):
    """The optional body: `{}` (nothing to choose; Kaizala reminds the action's recipients)."""

    model_config = ConfigDict(
        defer_build=True, extra="forbid", hide_input_in_errors=True, strict=True
    )


class ReminderResult(BaseModel):
    model_config = ConfigDict(defer_build=True)
    correlationId: str
    actionId: str
    status: Literal["sent", "unconfirmed"] = Field(
        description="sent: Kaizala confirmed it; unconfirmed: Kaizala's answer was lost (it "
        "may have been sent, so it counts)"
    )
    referenceId: str | None = Field(default=None, description="Kaizala's, when confirmed")
    remindedAt: str = Field(description="when the reminder was sent (ISO 8601)")
    nextReminderAt: str = Field(description="from when another reminder is allowed")
