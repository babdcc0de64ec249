"""Chat in a group registered for conversation: each message or attachment one note.

TextMessageCreated and AttachmentCreated events of a group whose registry row
(`GroupStore`, `conversation=True`, with a regarding record) asks for it take the same inbox
path as responses (stored before the answer, deduplicated on the event id, retried with
back-off). Processing writes one note on the group's record, create-only with an id derived
from the event id: once per event, even when an attempt is repeated. Chat of any other group
stays `ignored`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from typing import Any

from shared.adapters.dataverse import DataverseConflictError, conversation_note_id
from shared.domain.conversation import conversation_group, conversation_note, is_conversation
from shared.errors import BridgeError
from shared.services.inbound.deps import InboundDeps
from shared.stores.groups import GroupRecord
from shared.stores.inbox import InboxItem


def _serves(group: GroupRecord | None) -> bool:
    return bool(group and group.conversation and group.regarding_entity and group.regarding_id)


async def wants_note(deps: InboundDeps, event: Mapping[str, Any]) -> bool:
    """At intake: is this a chat event to keep `pending` (its group asks for notes)?"""
    if not is_conversation(event):
        return False
    try:
        group = await deps.groups.find(conversation_group(event))
    except BridgeError:
        return True  # cannot tell now: keep it pending; processing asks again
    return _serves(group)


async def write_conversation_note(deps: InboundDeps, item: InboxItem) -> uuid.UUID | None:
    """Write the note of one chat event; None when its group is not served (then ignored)."""
    group = await deps.groups.find(conversation_group(item.event))
    if group is None or not _serves(group):
        return None
    note_id = conversation_note_id(item.event_id)
    subject, text = conversation_note(item.event, item.received_at, group.name)
    # Create-only: a 412 means an earlier attempt of this event wrote it (once per event).
    with contextlib.suppress(DataverseConflictError):
        await deps.dataverse().upsert_note(
            note_id, group.regarding_entity, group.regarding_id, subject, text, if_none_match=True
        )
    return note_id
