"""Timer functions: NCRONTAB schedules, runOnStartup, no overlapping runs, a bounded shutdown.

Admin invocations (`POST /admin/functions/<name>`) run through the same runner, so a timer that
is still running is never started a second time, whoever asks, as in the Functions host.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

from azure.functions.timer import TimerRequest

from devtools import ncrontab
from devtools.host.errors import HostError
from devtools.host.indexing import IndexedApp, IndexedFunction
from devtools.host.invocation import Invoker, log_invocation
from shared.clock import Clock
from shared.config import SETTING_DEFAULTS

logger = logging.getLogger("devtools.host")

# A timer that fires this much later than its occurrence is reported as past due.
_PAST_DUE_AFTER = timedelta(seconds=1)
# Sleep in bounded steps so a wall-clock change (suspend, NTP step) is noticed.
_MAX_SLEEP_SECONDS = 30.0


class TimerRunner:
    """Runs the non-HTTP functions of one app: on their schedules and when asked to."""

    def __init__(
        self,
        indexed: IndexedApp,
        invoker: Invoker,
        *,
        schedules: bool,
        shutdown_grace: float,
        clock: Clock,
    ) -> None:
        self.indexed = indexed
        self.shutdown_grace = shutdown_grace
        self._invoker = invoker
        self._clock = clock
        self._schedules = resolve_schedules(indexed) if schedules else {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._schedulers: list[asyncio.Task[None]] = []
        self._last_run: dict[str, datetime] = {}

    def start(self) -> None:
        """Start every schedule (and the runOnStartup runs) on the running event loop."""
        for function in self.indexed.functions:
            schedule = self._schedules.get(function.name)
            if schedule is None:
                continue
            task = asyncio.get_running_loop().create_task(
                self._run_schedule(function, schedule), name=f"schedule-{function.name}"
            )
            task.add_done_callback(functools.partial(_report_scheduler_end, function.name))
            self._schedulers.append(task)
            if function.run_on_startup:
                self.start_invocation(function, "timer")

    async def stop(self) -> None:
        """Stop the schedules, then give running invocations `shutdown_grace` to finish."""
        for task in self._schedulers:
            task.cancel()
        await asyncio.gather(*self._schedulers, return_exceptions=True)
        self._schedulers.clear()
        running = [task for task in self._running.values() if not task.done()]
        if not running:
            return
        logger.info(
            "waiting up to %.1fs for %d running invocation(s)", self.shutdown_grace, len(running)
        )
        _, pending = await asyncio.wait(running, timeout=self.shutdown_grace)
        for task in pending:
            task.cancel()
        if pending:
            # A sync function's thread cannot be interrupted; do not wait for it for ever.
            await asyncio.wait(pending, timeout=1.0)

    def start_invocation(
        self,
        function: IndexedFunction,
        trigger: str,
        *,
        past_due: bool = False,
        quiet: bool = False,
    ) -> bool:
        """Start a non-HTTP invocation in the background; False if one is still running."""
        current = self._running.get(function.name)
        if current is not None and not current.done():
            log_invocation(
                function.name, trigger, "skipped(still-running)", time.perf_counter(), "-"
            )
            return False
        task = asyncio.get_running_loop().create_task(
            self._invoke(function, trigger, past_due, quiet), name=f"invoke-{function.name}"
        )
        self._running[function.name] = task
        task.add_done_callback(functools.partial(self._forget, function.name))
        return True

    def _forget(self, name: str, task: asyncio.Task[None]) -> None:
        if self._running.get(name) is task:
            del self._running[name]

    async def _run_schedule(self, function: IndexedFunction, schedule: ncrontab.Schedule) -> None:
        due = schedule.next_after(self._now())
        logger.info("timer %s: next run at %s", function.name, due.isoformat())
        # More often than once a minute: its successes are DEBUG lines (failures stay ERROR).
        frequent = (schedule.next_after(due) - due).total_seconds() < 60
        while True:
            await self._sleep_until(due)
            now = self._now()
            self.start_invocation(
                function, "timer", past_due=now - due > _PAST_DUE_AFTER, quiet=frequent
            )
            # From `now` rather than `due`: occurrences missed while the loop was blocked run
            # once (past due), not in a burst.
            due = schedule.next_after(max(due, now))

    async def _invoke(
        self, function: IndexedFunction, trigger: str, past_due: bool, quiet: bool = False
    ) -> None:
        started = time.perf_counter()
        invocation_id = str(uuid.uuid4())
        now = self._now()
        request = TimerRequest(
            past_due=past_due,
            schedule_status=self._schedule_status(function.name, now),
            schedule={"AdjustForDST": True},
        )
        self._last_run[function.name] = now
        try:
            await self._invoker.call(function, request, invocation_id)
        except asyncio.CancelledError:
            log_invocation(function.name, trigger, "cancelled", started, invocation_id)
            raise
        except Exception:
            log_invocation(function.name, trigger, "error", started, invocation_id, failed=True)
            return
        log_invocation(function.name, trigger, "ok", started, invocation_id, quiet=quiet)

    def _schedule_status(self, name: str, now: datetime) -> dict[str, str]:
        status = {"LastUpdated": now.isoformat()}
        if name in self._last_run:
            status["Last"] = self._last_run[name].isoformat()
        if name in self._schedules:
            status["Next"] = self._schedules[name].next_after(now).isoformat()
        return status

    async def _sleep_until(self, due: datetime) -> None:
        # A wall-clock deadline, not a poll: asyncio.sleep follows the monotonic clock.
        while True:
            delay = (due - self._now()).total_seconds()
            if delay <= 0:
                return
            await asyncio.sleep(min(delay, _MAX_SLEEP_SECONDS))

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


def resolve_schedules(indexed: IndexedApp) -> dict[str, ncrontab.Schedule]:
    """Each timer's schedule, its %SETTING% placeholders resolved; HostError names the timer."""
    schedules: dict[str, ncrontab.Schedule] = {}
    for function in indexed.functions:
        if function.schedule is None:
            continue
        try:
            expression = ncrontab.resolve_placeholders(
                function.schedule, os.environ, SETTING_DEFAULTS
            )
            schedules[function.name] = ncrontab.parse(expression)
        except ValueError as e:
            raise HostError(f"timer {function.name!r}: {e}") from None
    return schedules


def _report_scheduler_end(name: str, task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("timer %s: scheduler stopped", name, exc_info=task.exception())
