"""The conditional write of a response's activity: a newer answer is never written over.

Each response has one activity (its id derived from the response id, so a retry or an edit
updates the same row). Most responses are new: the first attempt is a create-only write
(If-None-Match *), one Dataverse call. When the activity exists (an edit, a redelivery) that
answers 412; then read it (its answer time and etag), decide, and write over exactly that
version with If-Match <etag>. Another 412 means another event of the same response wrote
meanwhile: read and decide again, a few rounds, then retry later (DataverseConflictError is
transient). A 404 on the If-Match write means the activity was deleted since the read (by a
user): decide again, as a create. Equal answer times are the same answer delivered again (or
this event retried after its write): written again, which changes nothing.
"""

from __future__ import annotations

import uuid

from shared.adapters.dataverse import (
    DataverseClient,
    DataverseConflictError,
    DataversePermanentError,
)
from shared.domain.rendering import activity_fields
from shared.domain.responses import NormalisedResponse, held_answer_time

WRITE_ROUNDS = 3  # read-decide-write rounds when concurrent writers keep answering 412


async def write_activity(
    client: DataverseClient,
    entity_set: str,
    response: NormalisedResponse,
    activity_id: uuid.UUID,
    rounds: int = WRITE_ROUNDS,
) -> int | None:
    """Write the activity unless it holds a newer answer; None if written, else the newer time.

    Raises DataverseConflictError when every round lost to another writer.
    """
    correlation = response.correlation
    fields = activity_fields(response)
    conflict: DataverseConflictError | None = None
    try:
        await client.upsert_activity(
            entity_set,
            activity_id,
            correlation.regarding_entity,
            correlation.regarding_id,
            fields,
            if_none_match=True,
        )
        return None
    except DataverseConflictError as exc:
        conflict = exc  # it exists: read it and decide
    for _ in range(rounds):
        current = await client.get_activity(entity_set, activity_id, ("description",))
        etag: str | None = None
        if current is not None:
            columns, etag = current
            held = held_answer_time(columns.get("description"))
            if held is not None and held > response.answer_time:
                return held
        try:
            await client.upsert_activity(
                entity_set,
                activity_id,
                correlation.regarding_entity,
                correlation.regarding_id,
                fields,
                if_match=etag,
                if_none_match=etag is None,
            )
        except DataverseConflictError as exc:
            conflict = exc  # created or changed since the read: decide again
            continue
        except DataversePermanentError as exc:
            if etag is not None and exc.upstream_status == 404:
                continue  # deleted since the read (by a user): decide again, as a create
            raise
        return None
    raise conflict or DataverseConflictError(None, "the activity changed on every read")
