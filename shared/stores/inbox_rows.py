"""The `inbox` table's keys and row shapes (read side), split from `shared.stores.inbox`.

Only `shared.stores.inbox` writes the table; these are the values its reads hand out.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.adapters.tables import Stored, check_key, unpack_blob
from shared.domain.responses import answer_time
from shared.stores.due_index import DueEntry

NO_ACTION_PARTITION = "noaction"
MAX_KEY_CHARS = 100


def inbox_key(value: object, fallback: str | None = None) -> str:
    """A Table storage key for an external id: as is when Azure accepts it, else its sha256."""
    if not isinstance(value, str) or not value:
        if fallback is None:
            raise ValueError("no key")
        return fallback
    try:
        if len(value) <= MAX_KEY_CHARS:
            return check_key(value)
    except ValueError:
        pass
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def partition_for(action_id: object) -> str:
    return inbox_key(action_id, NO_ACTION_PARTITION)


@dataclass(frozen=True)
class InboxItem:
    """One stored event, as processing reads it."""

    partition_key: str
    row_key: str
    event: dict[str, Any]
    attempts: int
    received_at: int
    responded_at: int | None = None  # None: computed from the event (rows stored before it)
    unreadable: str | None = None  # why the stored raw event could not be read back, if so
    # The due-index entry that covers this row now, deleted once its state is saved (None:
    # not known here; the sweep deletes it after its time instead).
    due_entry: DueEntry | None = None

    @property
    def event_id(self) -> str:
        return str(self.event.get("eventId") or self.row_key)

    @property
    def answer_time(self) -> int:
        """The version of this event's answer: later answers win, whatever the arrival order."""
        if self.responded_at is not None:
            return self.responded_at
        return answer_time(self.event, self.received_at)

    @classmethod
    def from_entity(cls, e: Mapping[str, Any], due_entry: DueEntry | None = None) -> InboxItem:
        # An unreadable event is processed as a malformed one: dead with the reason, visible,
        # never retried.
        event: Any = {}
        unreadable: str | None = None
        try:
            raw = unpack_blob(e)
        except (ValueError, KeyError, TypeError, zlib.error):
            unreadable = "the stored event cannot be unpacked"
        else:
            try:
                event = json.loads(raw)
            except ValueError:
                unreadable = "the stored event is not JSON"
        if not isinstance(event, dict):
            event, unreadable = {}, "the stored event is not a JSON object"
        responded = e.get("respondedAt")
        return cls(
            partition_key=str(e["PartitionKey"]),
            row_key=str(e["RowKey"]),
            event=event,
            attempts=int(e.get("attempts") or 0),
            received_at=int(e.get("receivedAt") or 0),
            responded_at=int(responded) if isinstance(responded, int | float) else None,
            unreadable=unreadable,
            due_entry=due_entry,
        )


@dataclass(frozen=True)
class DueRow:
    """A pending row whose time has come, with the ETag its claim is conditional on."""

    partition_key: str
    row_key: str
    response_key: str  # rows of one response share it (processed in arrival order)
    received_at: int
    etag: str
    entity: Mapping[str, Any]
    entry: DueEntry | None = None  # the due-index entry it was found by

    def item(self) -> InboxItem:
        return InboxItem.from_entity(self.entity, self.entry)

    @classmethod
    def from_stored(cls, stored: Stored, entry: DueEntry | None = None) -> DueRow:
        e = stored.entity
        return cls(
            partition_key=str(e["PartitionKey"]),
            row_key=str(e["RowKey"]),
            response_key=str(e.get("responseId") or e["RowKey"]),
            received_at=int(e.get("receivedAt") or 0),
            etag=stored.etag,
            entity=e,
            entry=entry,
        )


@dataclass(frozen=True)
class ResponseRows:
    """An action's response rows as its figures read them (`InboxStore.response_rows`)."""

    done: list[tuple[InboxItem, int]]  # (the row's event, processedAt epoch ms)
    pending: int  # rows still to process (in flight or retrying)
    truncated: bool  # the read stopped at its limit
