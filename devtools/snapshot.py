"""A simulator's state on disk: one JSON snapshot, written atomically, loaded at start.

`make run` starts the simulators with a state path so that stopping and starting it keeps the
onboarding, groups, webhooks, actions and Dataverse records (the secret store and Azurite keep
theirs too). A snapshot that cannot be read is moved aside with a clear message and the
simulator starts fresh: a local tool must never refuse to start because of its own leftovers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

AUTOSAVE_SECONDS = 0.5  # what a kill -9 can lose at most; a clean stop loses nothing


class SnapshotError(ValueError):
    """The snapshot is not one this version can restore (wrong kind, version or shape)."""


class Snapshot:
    def __init__(self, path: Path, kind: str, version: int, log: logging.Logger) -> None:
        self.path = path
        self.kind = kind
        self.version = version
        self.log = log
        self._last_written: str | None = None

    def load(self, restore: Callable[[dict[str, Any]], None]) -> bool:
        """Give the saved state to `restore`; False (and a fresh start) when there is none or
        it is unusable, in which case the file is kept beside as `<name>.corrupt`."""
        if not self.path.is_file():
            self.log.info("no saved state at %s: starting fresh", self.path)
            return False
        try:
            text = self.path.read_text(encoding="utf-8")
            doc = json.loads(text)
            if not isinstance(doc, dict) or doc.get("kind") != self.kind:
                raise SnapshotError(f"not a {self.kind} snapshot")
            if doc.get("version") != self.version:
                raise SnapshotError(
                    f"snapshot version {doc.get('version')!r}, this simulator reads {self.version}"
                )
            state = doc.get("state")
            if not isinstance(state, dict):
                raise SnapshotError("no state object")
            restore(state)
        # UnicodeDecodeError and json's errors are ValueErrors; `restore` raises TypeError,
        # KeyError or ValueError for a snapshot of the wrong shape.
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            aside = self.path.with_name(self.path.name + ".corrupt")
            with contextlib.suppress(OSError):
                os.replace(self.path, aside)
            self.log.warning(
                "saved state %s is unusable (%s: %s): moved to %s, starting fresh "
                "(`make reset` clears all local state)",
                self.path,
                type(exc).__name__,
                exc,
                aside.name,
            )
            return False
        self._last_written = text
        self.log.info("state restored from %s", self.path)
        return True

    def save(self, state: dict[str, Any]) -> bool:
        """Write the state if it changed since the last write; True when written."""
        text = json.dumps(
            {"kind": self.kind, "version": self.version, "state": state},
            ensure_ascii=False,
            sort_keys=True,
        )
        if text == self._last_written:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        # Atomic on POSIX: a reader (or a crash) sees the old snapshot or the new one, never half.
        os.replace(tmp, self.path)
        self._last_written = text
        return True

    @contextlib.asynccontextmanager
    async def autosaving(
        self, state: Callable[[], dict[str, Any]], every: float = AUTOSAVE_SECONDS
    ) -> AsyncIterator[None]:
        """Save on the server's event loop (where the state changes, so no lock is needed) every
        `every` seconds when changed, and once more at shutdown."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(every)
                try:
                    self.save(state())
                except OSError as exc:
                    self.log.warning("could not save state to %s: %s", self.path, exc)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.save(state())
