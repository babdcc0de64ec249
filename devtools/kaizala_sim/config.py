"""Simulator settings: one mutable object, changed at run time through `POST /_sim/config`.

Lifetimes are the documented (unscaled) values; the effective value is `lifetime / timeScale`,
so a time scale of 86400 makes a day pass in a second.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# Exponential back-off 1, 2, 4, ..., 32 times the base over six retries sums to 63 bases; this
# base spreads the six retries over the documented two days.
DOCUMENTED_RETRY_BASE_SECONDS = 2 * 86400 / 63


@dataclass
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 0
    seed_sample: bool = True
    time_scale: float = 1.0
    throttle_window_seconds: float = 60.0
    connector_limit_per_window: int = 100
    tenant_limit_per_window: int = 300
    duplicate_deliveries: int = 0
    delivery_retries: int = 6
    delivery_retry_base_seconds: float = DOCUMENTED_RETRY_BASE_SECONDS
    delivery_timeout_seconds: float = 10.0
    webhook_validation_timeout_seconds: float = 5.0
    access_token_lifetime_seconds: float = 86400.0
    refresh_token_lifetime_seconds: float = 365 * 86400.0
    refresh_rotation_fraction: float = 0.9
    pin_lifetime_seconds: float = 600.0
    allow_non_loopback_callbacks: bool = False
    max_media_bytes: int = 10 * 1024 * 1024

    def scaled(self, seconds: float) -> float:
        return seconds / self.time_scale

    def to_public(self) -> dict[str, Any]:
        return {_camel(f.name): getattr(self, f.name) for f in dataclasses.fields(self)}

    def update(self, changes: dict[str, Any]) -> list[str]:
        """Apply camelCase changes; returns the problems found (nothing is applied then)."""
        by_camel = {_camel(f.name): f for f in dataclasses.fields(self)}
        problems: list[str] = []
        staged: dict[str, Any] = {}
        for key, value in changes.items():
            f = by_camel.get(key)
            if f is None or f.name in _FIXED:
                problems.append(f"unknown or read-only setting {key!r}")
                continue
            converted = _convert(f.type, value)
            if converted is None:
                problems.append(f"{key}: expected {f.type}")
                continue
            staged[f.name] = converted
        problems += _check(staged)
        if not problems:
            for name, value in staged.items():
                setattr(self, name, value)
        return problems

    def copy(self) -> SimConfig:
        return dataclasses.replace(self)


# Set once at start-up: changing them at run time would not rebind the listening socket.
_FIXED = {"host", "port", "seed_sample"}

_POSITIVE = {
    "time_scale",
    "throttle_window_seconds",
    "connector_limit_per_window",
    "tenant_limit_per_window",
    "delivery_timeout_seconds",
    "webhook_validation_timeout_seconds",
    "access_token_lifetime_seconds",
    "refresh_token_lifetime_seconds",
    "pin_lifetime_seconds",
    "max_media_bytes",
}


def _check(staged: dict[str, Any]) -> list[str]:
    problems = [f"{_camel(n)} must be > 0" for n, v in staged.items() if n in _POSITIVE and v <= 0]
    for name in ("duplicate_deliveries", "delivery_retries", "delivery_retry_base_seconds"):
        if name in staged and staged[name] < 0:
            problems.append(f"{_camel(name)} must be >= 0")
    fraction = staged.get("refresh_rotation_fraction")
    if fraction is not None and not 0 < fraction <= 1:
        problems.append("refreshRotationFraction must be in (0, 1]")
    return problems


def _convert(type_name: Any, value: Any) -> Any:
    # bool is an int subclass: reject it for numbers, and numbers for bools.
    if type_name == "bool":
        return value if isinstance(value, bool) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if type_name == "int":
        return int(value) if float(value).is_integer() else None
    if type_name == "float":
        return float(value)
    return None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
