"""Mark the action's summary note due after a written response: ONE table transaction.

Called by the processing of a response event once its activity (and its flow deliveries) is
written, just before its inbox row is saved `done`. Nothing of the response is stored here: the
inbox row is the record, and the sweeper (`summaries.py`) derives the figures from the action's
done rows when it writes the note. The mark is an insert keyed by its due window
(`shared.stores.summary_due`): a burst makes one mark per window, a conflict is the same note
write already marked, and a trickle cannot push the write back.
"""

from __future__ import annotations

from shared.domain.responses import NormalisedResponse
from shared.services.inbound.deps import InboundDeps
from shared.stores.summary_due import due_time


async def mark_summary_due(deps: InboundDeps, response: NormalisedResponse) -> bool:
    """Mark the note due for this response's window; False when that window was marked.

    Raises StorageError (transient): the event is retried (writing its activity again changes
    nothing), so a written response is never left without a mark.
    """
    c = response.correlation
    if not c.correlation_id:
        return False  # no correlation id, no summary note to derive an id from
    now = deps.now_ms()
    return await deps.summary_due.mark(c, due_time(now, int(deps.summary_delay * 1000)), now)
