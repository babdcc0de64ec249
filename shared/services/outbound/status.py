"""GET /api/actions/{correlationId}: an action's state, its responses, and their figures."""

from __future__ import annotations

from shared.clock import iso_seconds
from shared.domain.actions import ActionStatus
from shared.domain.summary import summarise
from shared.errors import NotFoundError
from shared.stores.actions import ActionStore
from shared.stores.inbox import InboxStore
from shared.stores.results import ResultStore


async def action_status(
    actions: ActionStore, inbox: InboxStore, results: ResultStore, cid: str
) -> ActionStatus:
    record = await actions.get(cid.lower())
    if record is None:
        raise NotFoundError(f"No action with correlation id {cid}.")
    # Counted where intake keys them (the inbox hashes action ids Azure cannot use as keys).
    responses = await inbox.count_responses(record.action_id) if record.action_id else 0
    # The figures of the summary note, computed by the same function from the same rows.
    summary = summarise(await results.records(cid.lower())) if record.action_id else None
    return ActionStatus(
        correlationId=cid.lower(),
        status=record.status,
        actionId=record.action_id,
        referenceId=record.reference_id,
        groupId=record.group_id,
        actionType=record.action_type,
        template=record.template,
        regarding=record.regarding,
        responses=responses,
        createdAt=iso_seconds(record.created_ms) or "",
        sentAt=iso_seconds(record.sent_ms),
        lastError=record.last_error,
        summary=summary,
    )
