"""The components' output: one file for a look afterwards, searchable while the demo runs."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path


class ComponentLog:
    """Lines of every component, appended to a file and searchable while the demo runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("a", encoding="utf-8")
        self._lines: list[tuple[str, str]] = []
        self._changed = threading.Condition()

    def add(self, name: str, text: str) -> None:
        with self._changed:
            if not self._file.closed:  # a component's last words after the demo stopped
                self._file.write(f"[{name:9}] {text}\n")
                self._file.flush()
            self._lines.append((name, text))
            self._changed.notify_all()

    def mark(self) -> int:
        with self._changed:
            return len(self._lines)

    def wait_for(
        self, name: str, pattern: re.Pattern[str], since: int, timeout: float
    ) -> re.Match[str] | None:
        """The first line of `name` from index `since` on that matches, waiting up to timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for source, text in self._lines[since:]:
                    found = pattern.search(text) if source == name else None
                    if found:
                        return found
                since = len(self._lines)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)

    def close(self) -> None:
        with self._changed:
            self._file.close()
