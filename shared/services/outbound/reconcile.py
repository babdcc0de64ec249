"""Sends whose outcome is unknown: a row left `sending` (a crash or timeout after the POST).

Such a row, older than `STALE_SENDING_SECONDS`, is looked up in Kaizala: the group's actions of
that type since the send started, matched by title and not already correlated. One match is
adopted (and the responses kept as orphans meanwhile are re-queued), none means it was never
created and it is queued again, several are left `failed` for an operator rather than risking a
second send. Kaizala cannot list plain messages, so a Message (or a custom action, an image or
a document) in that state is marked `failed`: never sent twice, visible in GET /api/actions.
"""

from __future__ import annotations

from shared.adapters.kaizala import KaizalaClient, KaizalaError
from shared.clock import Clock, now_ms, wall
from shared.domain.action_request import TITLE_CHARS, Prepared, replace_title
from shared.services.outbound.send import Sender
from shared.stores.actions import ActionRecord, ActionStore
from shared.stores.correlations import CorrelationStore
from shared.stores.inbox import InboxStore

STALE_SENDING_SECONDS = 120.0
LOOKBACK_MS = 60_000  # Kaizala's clock and ours may differ; look a minute before the send
# Images and documents can be listed, but only by caption, which is optional and often
# repeated: a match could be someone else's file, so they are never adopted either.
UNLISTABLE = ("Message", "Custom", "Image", "Document")


class Reconciler:
    def __init__(
        self,
        sender: Sender,
        actions: ActionStore,
        correlations: CorrelationStore,
        inbox: InboxStore,
        kaizala: KaizalaClient,
        *,
        clock: Clock = wall,
    ) -> None:
        self._sender = sender
        self._actions = actions
        self._correlations = correlations
        self._inbox = inbox
        self._kaizala = kaizala
        self._clock = clock

    async def reconcile_stale(self, report: dict[str, int]) -> None:
        now = now_ms(self._clock)
        cutoff = now - int(STALE_SENDING_SECONDS * 1000)
        for record in await self._actions.stale_sending(cutoff, now):
            outcome = await self.reconcile(record)
            if outcome != "left":  # settled: no longer `sending`
                await self._actions.release(record.due_entry)
            report[outcome] = report.get(outcome, 0) + 1

    async def reconcile(self, record: ActionRecord) -> str:
        """Decide the fate of an action whose send outcome is unknown (see module doc)."""
        cid = record.correlation_id
        if record.action_type in UNLISTABLE:
            await self._actions.mark(cid, "failed", "outcome unknown; not resent")
            return "failed"
        since = record.sending_ms - LOOKBACK_MS
        try:
            page = await self._kaizala.list_actions(
                record.group_id, record.action_type, from_date=since
            )
        except KaizalaError:
            return "left"  # try again on the next run
        candidates = []
        for action in page.actions:
            if action.display_title[:TITLE_CHARS] != record.title:
                continue
            owner = await self._correlations.owner(action.actionId)
            if owner is None or owner == cid:
                candidates.append(action.actionId)
        if len(candidates) == 1:
            # Only the correlation's fields matter here: the stored title, not the body.
            prepared = Prepared(
                record.group_id, record.action_type, None, {}, record.template, record.regarding
            )
            await self._sender.record_sent(
                cid, replace_title(prepared, record.title), candidates[0], ""
            )
            # Responses that arrived while the send was in doubt were kept as orphans.
            await self._inbox.requeue_orphans(candidates[0], now_ms(self._clock))
            return "adopted"
        if not candidates:
            await self._sender.enqueue(cid, record.created_us, "re-queued after an unknown outcome")
            return "requeued"
        await self._actions.mark(cid, "failed", "several matching actions; not resent")
        return "failed"
