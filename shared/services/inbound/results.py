"""Record each written response's latest answers for its action's results (the summary).

Called by the processing of a response event right after its activity is written: the
response's answers go to the results store (one row per response: an edit replaces it, an
older answer never does), and the action's summary note is marked due `summary_delay` seconds
ahead unless a write is already pending. The note itself is written by the sweeper
(`summaries.py`), so a burst of answers makes one note write, not one per answer.
"""

from __future__ import annotations

import logging

from shared.domain.responses import NormalisedResponse
from shared.domain.summary import result_record
from shared.services.inbound.deps import InboundDeps, short

log = logging.getLogger(__name__)


async def record_result(deps: InboundDeps, response: NormalisedResponse) -> bool:
    """Keep the response's answers and mark the summary due; False when nothing changed.

    Raises StorageError (transient): the event is retried, and writing its activity again
    changes nothing.
    """
    c = response.correlation
    if not c.correlation_id:
        return False  # no correlation id, no summary note to derive an id from
    now = deps.now_ms()
    record = result_record(response, now)
    if not await deps.results.record(c.correlation_id, record, response.event_id):
        log.info("results event=%s older than the answer held", short(response.event_id))
        return False
    await deps.results.mark_due(c, now + int(deps.summary_delay * 1000), now)
    return True
