"""PINs, refresh tokens and access tokens.

Refresh tokens are bound to a user and a connector. In the last (1 - rotation fraction) of its
life, exchanging a refresh token also returns a successor; the old one stays valid until its own
expiry. A new login (or an admin issuing a token) revokes every older token of that user and
connector, as documented.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from devtools.kaizala_sim.errors import ApiError, bad_request, unauthorized
from devtools.kaizala_sim.models import GRANTED_SCOPE, AccessToken, Connector, Pin, RefreshToken
from devtools.kaizala_sim.simulator import Simulator
from devtools.kaizala_sim.state import check_mobile

log = logging.getLogger("devtools.kaizala_sim")


def connector_for(sim: Simulator, application_id: Any) -> Connector:
    connector = (
        sim.state.connectors.get(application_id) if isinstance(application_id, str) else None
    )
    if connector is None:
        raise unauthorized("unknown applicationId")
    return connector


def generate_pin(sim: Simulator, mobile: Any, application_id: Any) -> None:
    number = check_mobile(mobile)
    connector = connector_for(sim, application_id)
    # 1000-9999: a PIN never starts with 0, so a numeric `pin` in the login body is unambiguous.
    pin = str(1000 + secrets.randbelow(9000))
    # Not scaled: a person types the PIN, whatever the token time scale.
    expires = sim.now() + sim.config.pin_lifetime_seconds
    sim.state.pins[(number, connector.application_id)] = Pin(pin, expires)
    sim.state.last_pins[number] = pin
    sim.counters.pins_generated += 1
    # The documented stand-in for the SMS: the only secret this simulator ever logs.
    log.info("PIN for %s : %s", number, pin)


def login_with_pin(sim: Simulator, mobile: Any, application_id: Any, pin: Any) -> RefreshToken:
    number = check_mobile(mobile)
    connector = connector_for(sim, application_id)
    if isinstance(pin, bool) or not isinstance(pin, int):
        raise bad_request("pin must be a number (an integer, as the swagger says)")
    key = (number, connector.application_id)
    stored = sim.state.pins.get(key)
    if stored is None or stored.expires_at <= sim.now():
        sim.state.pins.pop(key, None)
        raise unauthorized("no valid PIN for this number; call generatePin")
    if not hmac.compare_digest(str(pin).strip(), stored.pin):
        raise unauthorized("wrong PIN")
    del sim.state.pins[key]  # single use
    user = sim.state.user(number)
    user.provisioned = True
    return issue_refresh_token(sim, connector.application_id, number)


def issue_refresh_token(
    sim: Simulator, application_id: str, mobile: str, *, revoke_older: bool = True
) -> RefreshToken:
    now = sim.now()
    if revoke_older:
        for old in sim.state.refresh_tokens.values():
            if old.application_id == application_id and old.mobile == mobile:
                old.revoked = True
    token = RefreshToken(
        token=secrets.token_urlsafe(48),
        application_id=application_id,
        mobile=mobile,
        issued_at=now,
        expires_at=now + sim.config.scaled(sim.config.refresh_token_lifetime_seconds),
    )
    sim.state.refresh_tokens[token.token] = token
    sim.counters.refresh_tokens_issued += 1
    return token


def refresh_token_body(token: RefreshToken) -> dict[str, Any]:
    return {
        "refreshToken": token.token,
        "grantedScope": GRANTED_SCOPE,
        "refreshTokenExpiry": int(token.expires_at * 1000),
    }


def exchange(
    sim: Simulator, application_id: Any, secret: Any, refresh_token: Any
) -> tuple[AccessToken, RefreshToken | None]:
    connector = connector_for(sim, application_id)
    if not isinstance(secret, str) or not hmac.compare_digest(
        secret.encode(), connector.secret.encode()
    ):
        raise unauthorized("applicationSecret does not match the applicationId")
    stored = sim.state.refresh_tokens.get(refresh_token) if isinstance(refresh_token, str) else None
    now = sim.now()
    if stored is None or stored.application_id != connector.application_id:
        raise unauthorized("unknown refreshToken")
    if stored.revoked:
        raise unauthorized("refreshToken was replaced by a newer one")
    if stored.expires_at <= now:
        raise unauthorized("refreshToken expired")
    # Token calls count against the connector's budget too; only authenticated ones, so a
    # stranger cannot spend a connector's calls.
    throttle(sim, connector)
    successor = _rotate_if_due(sim, stored, now)
    access = AccessToken(
        token=secrets.token_urlsafe(48),
        application_id=connector.application_id,
        mobile=stored.mobile,
        expires_at=now + sim.config.scaled(sim.config.access_token_lifetime_seconds),
    )
    sim.state.access_tokens[access.token] = access
    sim.counters.access_tokens_issued += 1
    return access, successor


def _rotate_if_due(sim: Simulator, stored: RefreshToken, now: float) -> RefreshToken | None:
    life = stored.expires_at - stored.issued_at
    if now < stored.issued_at + life * sim.config.refresh_rotation_fraction:
        return None
    current = sim.state.refresh_tokens.get(stored.successor) if stored.successor else None
    if current is not None and not current.revoked:
        # Hand out the same successor again, so a client that lost the answer can recover.
        return current
    successor = issue_refresh_token(sim, stored.application_id, stored.mobile, revoke_older=False)
    stored.successor = successor.token
    sim.counters.refresh_token_rotations += 1
    return successor


def authenticate(sim: Simulator, token: str | None) -> AccessToken:
    if not token:
        raise unauthorized("the accessToken header is required")
    access = sim.state.access_tokens.get(token)
    if access is None:
        raise unauthorized("unknown accessToken")
    if access.expires_at <= sim.now():
        raise unauthorized("accessToken expired")
    if access.application_id not in sim.state.connectors:
        raise unauthorized("the connector of this accessToken was deleted")
    return access


def throttle(sim: Simulator, connector: Connector) -> None:
    config = sim.config
    wait = sim.throttle.admit(
        connector.application_id,
        connector.tenant_id,
        config.throttle_window_seconds,
        config.connector_limit_per_window,
        config.tenant_limit_per_window,
        sim.now(),
    )
    if wait is not None:
        raise ApiError(
            429,
            "TooManyRequests",
            f"rate limit exceeded; retry after {wait} s",
            {"Retry-After": str(wait)},
        )
