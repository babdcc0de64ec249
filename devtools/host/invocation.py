"""Calling one user function as the Python worker does, and what the host says about it.

Every kind of trigger ends here: async functions are awaited on the server's event loop (the app
keeps loop-bound clients), sync functions go to the thread pool, as in the Python worker.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from devtools.host.context import InvocationContext
from devtools.host.indexing import CONTEXT_PARAMETER, IndexedApp, IndexedFunction

logger = logging.getLogger("devtools.host")


class Invoker:
    """Calls the functions of one indexed app with their trigger value and context."""

    def __init__(self, indexed: IndexedApp) -> None:
        self.indexed = indexed

    async def call(
        self,
        function: IndexedFunction,
        trigger_value: object,
        invocation_id: str,
        *,
        trace_parent: str = "",
        trace_state: str = "",
    ) -> Any:
        kwargs: dict[str, Any] = {function.trigger_parameter: trigger_value}
        if function.wants_context:
            kwargs[CONTEXT_PARAMETER] = InvocationContext(
                invocation_id,
                function.name,
                str(self.indexed.base_dir),
                trace_parent=trace_parent,
                trace_state=trace_state,
            )
        if function.is_async:
            return await function.user_function(**kwargs)
        result = await run_in_threadpool(function.user_function, **kwargs)
        if inspect.isawaitable(result):  # e.g. a sync wrapper around an async function
            result = await result
        return result


def log_invocation(
    name: str,
    trigger: str,
    outcome: str,
    started: float,
    invocation_id: str,
    *,
    failed: bool = False,
    quiet: bool = False,
) -> None:
    """The host's one line per invocation; `started` is a time.perf_counter() reading.

    `quiet`: a success of a timer that runs more often than once a minute is DEBUG (six lines
    a minute of `process_inbox` alone would drown the log); its failures stay ERROR.
    """
    # Never the request's headers or body (keys, tokens).
    logger.log(
        logging.ERROR if failed else logging.DEBUG if quiet else logging.INFO,
        "function=%s trigger=%s %s duration_ms=%d id=%s",
        name,
        trigger,
        outcome,
        round((time.perf_counter() - started) * 1000),
        invocation_id,
        exc_info=failed,
    )


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    invocation_id: str | None = None,
) -> Response:
    """An application/problem+json answer of the host itself (not of a function)."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if invocation_id is not None:
        body["invocation_id"] = invocation_id
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )
