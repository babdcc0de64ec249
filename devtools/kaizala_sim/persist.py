"""The simulator's tenant as JSON: what `--state-path` saves and restores.

Saved: connectors, users, PINs, refresh and access tokens, groups (members, sub-groups,
messages), actions and their responses, media, webhooks, endpoint names and the clock's offset.
Not saved: the call log, statistics, faults, redirects, run-time config changes and deliveries in
flight (Kaizala's own retries are not resumed after a restart).
"""

from __future__ import annotations

import base64
import dataclasses
import types
import typing
from typing import Any, Union

from devtools.kaizala_sim.models import (
    AccessToken,
    Action,
    Connector,
    Group,
    Media,
    Pin,
    RefreshToken,
    User,
    Webhook,
)
from devtools.kaizala_sim.simulator import Simulator
from devtools.kaizala_sim.state import SimState

KIND = "kaizala-sim"
VERSION = 1

_RECORDS: dict[str, type] = {
    "connectors": Connector,
    "users": User,
    "refresh_tokens": RefreshToken,
    "access_tokens": AccessToken,
    "groups": Group,
    "actions": Action,
    "media": Media,
    "webhooks": Webhook,
}


def dump(sim: Simulator) -> dict[str, Any]:
    state = sim.state
    out: dict[str, Any] = {
        name: {key: _encode(record) for key, record in getattr(state, name).items()}
        for name in _RECORDS
    }
    out["pins"] = [[mobile, app_id, _encode(pin)] for (mobile, app_id), pin in state.pins.items()]
    out["last_pins"] = dict(state.last_pins)
    out["endpoint_names"] = list(state.endpoint_names)
    out["clock_offset"] = sim.clock.offset
    return out


def restore(sim: Simulator, data: dict[str, Any]) -> None:
    """Replace the simulator's tenant with the saved one; raises (and changes nothing) when
    `data` does not have the expected shape."""
    state = SimState()
    for name, cls in _RECORDS.items():
        setattr(state, name, {str(k): _decode(cls, v) for k, v in data[name].items()})
    state.pins = {(str(m), str(a)): _decode(Pin, p) for m, a, p in data["pins"]}
    state.last_pins = {str(k): str(v) for k, v in data["last_pins"].items()}
    state.media_by_resource = {m.resource: m for m in state.media.values()}
    names = [str(n) for n in data["endpoint_names"]]
    if not names:
        raise ValueError("endpoint_names is empty")
    state.endpoint_names = names
    offset = data["clock_offset"]
    if isinstance(offset, bool) or not isinstance(offset, int | float):
        raise TypeError("clock_offset must be a number")
    sim.state = state
    sim.clock.offset = float(offset)


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(tp: Any, value: Any) -> Any:
    """`value` as type `tp` (the models' annotations): dataclasses, dict[str, X], list[X],
    X | None, bytes (base64) and JSON scalars; a mismatch raises TypeError."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _decode(inner, value)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise TypeError(f"{tp.__name__}: expected an object")
        hints = typing.get_type_hints(tp)
        fields = {f.name for f in dataclasses.fields(tp)}
        if set(value) - fields:
            raise TypeError(f"{tp.__name__}: unknown fields {sorted(set(value) - fields)}")
        return tp(**{k: _decode(hints[k], v) for k, v in value.items()})
    if origin is dict:
        _, item = typing.get_args(tp)
        if not isinstance(value, dict):
            raise TypeError("expected an object")
        return {str(k): _decode(item, v) for k, v in value.items()}
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise TypeError("expected a list")
        return [_decode(item, v) for v in value]
    if tp is bytes:
        if not isinstance(value, str):
            raise TypeError("expected base64 text")
        return base64.b64decode(value, validate=True)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (str, int, float, bool) and type(value) is not tp:
        raise TypeError(f"expected {tp.__name__}, got {type(value).__name__}")
    return value
