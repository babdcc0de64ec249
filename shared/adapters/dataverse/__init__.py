"""Dataverse (Dynamics 365) Web API adapter: write activities regarding a record.

The bridge writes each survey response as a task (or phone call) regarding an opportunity with
`PATCH <set>(<id>)`, an upsert. The id is derived from the response id (`activity_id_for`), so a
retried write updates the same row instead of adding a second one; that is what makes the
in-call retry and the caller's durable retry safe.

A write can be made conditional on what the caller read (`get_activity` gives the row and its
`@odata.etag`): `if_match=<etag>` only updates that version of the row, `if_none_match=True`
only creates it. Dataverse answers 412 when the condition fails, raised as
`DataverseConflictError`: someone wrote meanwhile; read again and decide again.

Failures come out as three kinds: `DataverseThrottledError` and `DataverseUnavailableError`
(transient: retry later) and `DataversePermanentError` (retrying will not help), plus the
conflict above. The adapter retries at most once in-call, briefly, so a webhook answer stays fast.

Notes (`annotations`: an action's summary, a chat message) are upserted the same way
(`upsert_note`, ids from `summary_note_id` / `conversation_note_id`).

Modules: `errors` (the error family, answers mapped onto it), `odata` (names, ids, input
checks), `notes` (note ids and body), `auth` (token sources), `client` (the calls), `guard`
(the process's circuit breaker and request window, consulted by every call: while the circuit
is open a call raises `DataverseCircuitOpenError` without sending anything).
Importers use this package's names.
"""

from shared.adapters.dataverse.auth import AzureIdentityTokenSource, StaticTokenSource, TokenSource
from shared.adapters.dataverse.client import (
    DEFAULT_RETRY,
    DataverseClient,
    UpsertResult,
)
from shared.adapters.dataverse.errors import (
    DEFAULT_THROTTLE_WAIT,
    DataverseCircuitOpenError,
    DataverseConflictError,
    DataverseError,
    DataverseInputError,
    DataversePermanentError,
    DataverseThrottledError,
    DataverseTransientError,
    DataverseUnavailableError,
)
from shared.adapters.dataverse.guard import DataverseGuard
from shared.adapters.dataverse.http import build_http_client
from shared.adapters.dataverse.notes import (
    CONVERSATION_NOTE_NAMESPACE,
    NOTE_SET,
    SUMMARY_NOTE_NAMESPACE,
    conversation_note_id,
    note_bind_property,
    summary_note_id,
)
from shared.adapters.dataverse.odata import (
    ACTIVITY_NAMESPACE,
    ACTIVITY_SETS,
    API_PATH,
    DEFAULT_SELECT,
    activity_id_for,
    entity_set_for,
    regarding_bind_property,
)
from shared.adapters.retry import parse_retry_after  # the one parser, named here as before
from shared.domain.rendering import SUBJECT_MAX_LENGTH, truncate_utf16

__all__ = [
    "ACTIVITY_NAMESPACE",
    "ACTIVITY_SETS",
    "API_PATH",
    "CONVERSATION_NOTE_NAMESPACE",
    "DEFAULT_RETRY",
    "DEFAULT_SELECT",
    "DEFAULT_THROTTLE_WAIT",
    "NOTE_SET",
    "SUBJECT_MAX_LENGTH",
    "SUMMARY_NOTE_NAMESPACE",
    "AzureIdentityTokenSource",
    "DataverseCircuitOpenError",
    "DataverseClient",
    "DataverseConflictError",
    "DataverseError",
    "DataverseGuard",
    "DataverseInputError",
    "DataversePermanentError",
    "DataverseThrottledError",
    "DataverseTransientError",
    "DataverseUnavailableError",
    "StaticTokenSource",
    "TokenSource",
    "UpsertResult",
    "activity_id_for",
    "build_http_client",
    "conversation_note_id",
    "entity_set_for",
    "note_bind_property",
    "parse_retry_after",
    "regarding_bind_property",
    "summary_note_id",
    "truncate_utf16",
]
