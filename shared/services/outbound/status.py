"""GET /api/actions/{correlationId}: an action's state, its responses, and their figures."""

from __future__ import annotations

from shared.clock import iso_seconds
from shared.domain.actions import ActionStatus
from shared.domain.correlation import Correlation
from shared.domain.summary import latest_records, summarise
from shared.errors import NotFoundError
from shared.stores.actions import ActionStore
from shared.stores.groups import GroupStore
from shared.stores.inbox import InboxStore


async def action_status(
    actions: ActionStore,
    inbox: InboxStore,
    cid: str,
    groups: GroupStore | None = None,
) -> ActionStatus:
    record = await actions.get(cid.lower())
    if record is None:
        raise NotFoundError(f"No action with correlation id {cid}.")
    group = await groups.find(record.group_id) if groups is not None else None
    skipped = None
    if group is not None and group.skipped and group.regarding_id == record.regarding.id.lower():
        skipped = list(group.skipped)  # the people of this record its group left out
    # One read of the action's inbox rows for both the count and the figures, by the same
    # functions as the summary note (so the two agree).
    summary = None
    if record.action_id:
        rows = await inbox.response_rows(record.action_id)
        summary = summarise(latest_records(rows.done, _correlation(record.action_id, cid)))
    return ActionStatus(
        correlationId=cid.lower(),
        status=record.status,
        actionId=record.action_id,
        referenceId=record.reference_id,
        groupId=record.group_id,
        actionType=record.action_type,
        template=record.template,
        regarding=record.regarding,
        responses=summary.responses if summary is not None else 0,
        createdAt=iso_seconds(record.created_ms) or "",
        sentAt=iso_seconds(record.sent_ms),
        lastError=record.last_error,
        skippedMembers=skipped,
        summary=summary,
    )


def _correlation(action_id: str, cid: str) -> Correlation:
    # Normalising reads only the event; the correlation is carried along, not used, here.
    return Correlation(action_id, cid.lower(), "", "", "", "", "", "")
