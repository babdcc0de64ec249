"""The `func.Context` the worker passes to a function parameter named `context`."""

from __future__ import annotations

import threading
from typing import cast

import azure.functions as func
from azure.functions._abc import RetryContext, RpcException, TraceContext


class _NoException(RpcException):
    @property
    def source(self) -> str:
        return ""

    @property
    def stack_trace(self) -> str:
        return ""

    @property
    def message(self) -> str:
        return ""


class _TraceContext(TraceContext):
    def __init__(self, trace_parent: str, trace_state: str) -> None:
        self._trace_parent = trace_parent
        self._trace_state = trace_state

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(RetryContext):
    # The local host never retries, so every invocation is attempt 0 of 0.
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> RpcException:
        return _NoException()


class InvocationContext(func.Context):
    def __init__(
        self,
        invocation_id: str,
        function_name: str,
        function_directory: str,
        trace_parent: str = "",
        trace_state: str = "",
    ) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._trace = _TraceContext(trace_parent, trace_state)
        self._storage = threading.local()
        self._storage.invocation_id = invocation_id

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> type[threading.local]:
        # The worker returns a threading.local instance although the ABC annotates the type.
        return cast(type[threading.local], self._storage)

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> TraceContext:
        return self._trace

    @property
    def retry_context(self) -> RetryContext:
        return _RetryContext()
