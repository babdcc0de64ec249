"""Field checks shared by every route: each problem is a 400 naming the offending field, so a
client under test sees what it got wrong. Names are exact (case-sensitive), as on the wire."""

from __future__ import annotations

import math
from typing import Any

from devtools.kaizala_sim.errors import bad_request
from devtools.kaizala_sim.state import check_mobile

MAX_MESSAGE_CHARS = 4000  # a group message, an announcement (the project's API notes)
MAX_SUBSCRIBER_MESSAGE_CHARS = 1000  # SendMessageToSubscriber's `Message` (the swagger)
MAX_MEMBERS_PER_CALL = 100


def req_str(body: dict[str, Any], key: str, where: str, max_len: int | None = None) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"{where}.{key} must be a non-empty string")
    if max_len is not None and len(value) > max_len:
        raise bad_request(f"{where}.{key} is longer than {max_len} characters")
    return value


def opt_str(body: dict[str, Any], key: str, where: str, default: str = "") -> str:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise bad_request(f"{where}.{key} must be a string")
    return value


def opt_bool(body: dict[str, Any], key: str, where: str, default: bool = False) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad_request(f"{where}.{key} must be true or false")
    return value


def opt_whole(body: dict[str, Any], key: str, where: str, default: int, unit: str = "hours") -> int:
    value = body.get(key)
    if value is None:
        return default
    if not is_number(value) or not float(value).is_integer() or value <= 0:
        raise bad_request(f"{where}.{key} must be a positive whole number of {unit}")
    return int(value)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def mobile_list(value: Any, where: str, *, allow_empty: bool) -> list[str]:
    if not isinstance(value, list) or (not value and not allow_empty):
        raise bad_request(f"{where} must be a {'' if allow_empty else 'non-empty '}list of numbers")
    numbers = [check_mobile(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return list(dict.fromkeys(numbers))


_LOCATION_KEYS = ("latitude", "longitude", "name", "lt", "lg", "n")


def location(value: Any, where: str, *, name_required: bool = False) -> dict[str, Any]:
    """A location given as {latitude, longitude, name} or Kaizala's short {lt, lg, n}."""
    if not isinstance(value, dict):
        raise bad_request(f"{where} must be an object with latitude and longitude")
    unknown = [k for k in value if k not in _LOCATION_KEYS]
    if unknown:
        raise bad_request(
            f"{where}.{unknown[0]} is not a field of a location ({', '.join(_LOCATION_KEYS)})"
        )
    lat: Any = value.get("latitude", value.get("lt"))
    lng: Any = value.get("longitude", value.get("lg"))
    name: Any = value.get("name", value.get("n"))
    if not is_number(lat) or not -90 <= lat <= 90:
        raise bad_request(f"{where}.latitude must be a number between -90 and 90")
    if not is_number(lng) or not -180 <= lng <= 180:
        raise bad_request(f"{where}.longitude must be a number between -180 and 180")
    if name is None and not name_required:
        name = ""
    if not isinstance(name, str):
        raise bad_request(f"{where}.name must be a string")
    return {"latitude": lat, "longitude": lng, "name": name}
