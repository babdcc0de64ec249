"""GET /api/actions/{correlationId}: an action's state, its responses, and their figures."""

from __future__ import annotations

from shared.clock import iso_seconds
from shared.domain.actions import ActionStatus
from shared.domain.summary import summarise
from shared.errors import NotFoundError
from shared.stores.actions import ActionStore
from shared.stores.groups import GroupStore
from shared.stores.inbox import InboxStore
from shared.stores.results import ResultStore


async def action_status(
    actions: ActionStore,
    inbox: InboxStore,
    results: ResultStore,
    cid: str,
    groups: GroupStore | None = None,
) -> ActionStatus:
    record = await actions.get(cid.lower())
    if record is None:
        raise NotFoundError(f"No action with correlation id {cid}.")
    # Counted where intake keys them (the inbox hashes action ids Azure cannot use as keys).
    responses = await inbox.count_responses(record.action_id) if record.action_id else 0
    group = await groups.find(record.group_id) if groups is not None else None
    skipped = None
    if group is not None and group.skipped and group.regarding_id == record.regarding.id.lower():
        skipped = list(group.skipped)  # the people of this record its group left out
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
        skippedMembers=skipped,
        summary=summary,
    )
