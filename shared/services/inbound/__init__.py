"""Inbound: Kaizala webhook events → durable inbox → Dataverse activities (and a second sink).

The life of one response event (the hot path, `receive_event`):
1. `accept_event` (intake.py): token check (401, nothing stored), size (413), parse (400), then
   ONE insert-only inbox row keyed by the event id, before anything is answered 2xx. A lost
   insert is a duplicate delivery (Kaizala delivers at least once) and is answered without more
   work.
2. `process_event` (processing.py), inline and within a time budget: the correlation (actionId →
   opportunity, cached per process), one conditional write of the activity with an id derived from
   the response id (activity.py: a retry or an edit updates the same row), the flow deliveries
   queued (one insert per matching trigger subscription, none without one:
   shared/services/flow_subscriptions.py), the action's summary note marked due (results.py: one
   insert; the sweeper writes the note from the inbox's done rows, summaries.py), then one update of
   the inbox row to `done`. Five table transactions per event once warm, with the row's due-index
   entry (written before the insert, deleted after `done`: shared/stores/due_index.py). Chat of a
   group registered for conversation takes the same path and becomes one note (conversation.py).
3. Whatever goes wrong after the insert, the answer is still 2xx: the event is safe in the
   inbox, and `sweep_inbox` (sweeper.py, the `process_inbox` timer) finishes it with back-off.

Events of one response (the answer, then edits) are not delivered in the order the member
answered, and may be processed concurrently. The order that counts is the answer time
(`respondedAt`: Kaizala's hidden ResponseTime question, else the arrival time), and the activity
itself is the version record: its description ends with `Kaizala answer time: <epoch ms>`.
Each write reads the activity and its etag first, skips the write when the activity holds a
newer answer, and otherwise writes only over the version it read (If-Match / If-None-Match),
reading again when someone wrote meanwhile (412). GET + PATCH per event, no table reads.

Inbox row states: `pending` (to do; `nextAttemptAt` says when), `done`, `ignored` (not a response
event), `orphan` (no correlation for the action; kept until replayed), `superseded` (an older
answer than the one the activity already holds: not written), `dead` (permanent failure or out
of attempts; kept until replayed). `replay` (replay.py) puts dead and orphan rows back to
`pending`.

Backfill (backfill.py, the `backfill_responses` timer and the per-action admin route) reads
recent actions' responses from Kaizala and feeds the versions the inbox does not hold through
the same insert and processing, so a response the webhook missed still becomes its one task.

No azure.functions imports here: the triggers in functions/webhooks.py are thin. The runtime
builds the dependencies once (`Runtime.inbound`, an `InboundDeps`).
"""

from __future__ import annotations

from shared.services.inbound.deps import InboundDeps
from shared.services.inbound.intake import (
    INLINE_GRACE_MS,
    MAX_EVENT_BYTES,
    AcceptResult,
    accept_event,
    receive_event,
    validation_echo,
)
from shared.services.inbound.processing import Outcome, process_event
from shared.services.inbound.replay import ReplayRequest, replay
from shared.services.inbound.sweeper import SweepReport, sweep_inbox

__all__ = [
    "INLINE_GRACE_MS",
    "MAX_EVENT_BYTES",
    "AcceptResult",
    "InboundDeps",
    "Outcome",
    "ReplayRequest",
    "SweepReport",
    "accept_event",
    "process_event",
    "receive_event",
    "replay",
    "sweep_inbox",
    "validation_echo",
]
