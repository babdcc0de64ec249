"""The one error type of the local host."""

from __future__ import annotations


class HostError(Exception):
    """The app, its settings or host.json cannot be served; the message says what to fix."""
