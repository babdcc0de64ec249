"""Notes (`annotations`) on a record: ids, the regarding binding, and the checked body.

A note is bound to its record with `objectid_<entity>@odata.bind` = `/<entity set>(<id>)`
(`objectid_opportunity` for an opportunity). Its ids are derived, so a rewrite or a retry lands
on the same row: one summary note per action (from the correlation id), one note per chat
event (from the event id), each in its own namespace.
"""

from __future__ import annotations

import uuid
from typing import Any

from shared.adapters.dataverse.errors import DataverseInputError
from shared.adapters.dataverse.odata import check_entity, check_guid, encode_body, entity_set_for
from shared.domain.rendering import NOTE_SUBJECT_MAX_LENGTH, NOTE_TEXT_MAX_LENGTH, truncate_utf16

NOTE_SET = "annotations"
# Fixed for good (as ACTIVITY_NAMESPACE): a new namespace would give every written note a new
# id, hence a second note. uuid5(NAMESPACE_URL, "https://kaizala-bridge.invalid/dataverse/...")
# of "summary-note" and "conversation-note".
SUMMARY_NOTE_NAMESPACE = uuid.UUID("0e31cc2d-bf78-589e-8764-0e131b2a5532")
CONVERSATION_NOTE_NAMESPACE = uuid.UUID("3399db18-c1e7-52b5-ae4a-00eb88bc8f31")


def _derived(namespace: uuid.UUID, value: str, what: str) -> uuid.UUID:
    if not isinstance(value, str) or not value.strip():
        raise DataverseInputError(f"{what} must be a non-empty string")
    return uuid.uuid5(namespace, value.strip())


def summary_note_id(correlation_id: str) -> uuid.UUID:
    """The id of an action's summary note (the correlation id is a GUID: case-insensitive)."""
    lowered = correlation_id.lower() if isinstance(correlation_id, str) else correlation_id
    return _derived(SUMMARY_NOTE_NAMESPACE, lowered, "correlation id")


def conversation_note_id(event_id: str) -> uuid.UUID:
    """The id of the note of one chat event (a redelivery has the same event id)."""
    return _derived(CONVERSATION_NOTE_NAMESPACE, event_id, "event id")


def note_bind_property(regarding_entity: str) -> str:
    return f"objectid_{check_entity(regarding_entity)}@odata.bind"


def note_body(regarding_entity: str, regarding_id: str, subject: str, text: str) -> bytes:
    """The JSON of a note write; subject and text cut to Dataverse's lengths, never refused."""
    if not isinstance(subject, str) or not isinstance(text, str):
        raise DataverseInputError("a note's subject and text must be strings")
    target = f"/{entity_set_for(regarding_entity)}({check_guid(regarding_id, 'regarding id')})"
    body: dict[str, Any] = {
        "subject": truncate_utf16(subject, NOTE_SUBJECT_MAX_LENGTH),
        "notetext": truncate_utf16(text, NOTE_TEXT_MAX_LENGTH),
        note_bind_property(regarding_entity): target,
    }
    return encode_body(body)
