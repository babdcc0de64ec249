"""The simulated tenant: connectors, users, tokens, groups, actions, media and webhooks.

Everything lives in dicts on one object so that `POST /_sim/reset` can swap in a fresh seed.
All mutation happens on the server's event loop, between awaits, so no lock is needed.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from devtools.kaizala_sim.errors import ApiError, bad_request, forbidden, not_found
from devtools.kaizala_sim.models import (
    AccessToken,
    Action,
    Connector,
    Group,
    Media,
    Member,
    Pin,
    RefreshToken,
    User,
    Webhook,
)

SAMPLE_APPLICATION_ID = "5a8f0b3c-1d2e-4f60-9a7b-0c1d2e3f4a5b"
SAMPLE_APPLICATION_SECRET = "sim-connector-secret-not-for-production"  # noqa: S105 - public sample
SAMPLE_TENANT_ID = "sim-tenant"
SAMPLE_GROUP_ID = "8c291050-9be8-45d6-97f5-bb7013930027"
SAMPLE_GROUP_NAME = "Sales Team"
SAMPLE_MEMBERS = (
    ("+919100000001", "Asha Rao", "72e91a3c-f3a1-4e7b-84eb-4e228406fb9b"),
    ("+919100000002", "Vikram Shah", None),
    ("+919100000003", "Meera Iyer", None),
    ("+919100000004", "Rohan Das", None),
)
SAMPLE_ADMIN = SAMPLE_MEMBERS[0][0]
ENDPOINT_NAME_PREFIX = "inc-"

_MOBILE = re.compile(r"^\+[1-9]\d{6,14}$")
PHONE_LIKE = re.compile(r"^\+?\d{6,15}$")  # a phone number given where an id belongs
# Fixed namespace so seeded ids are the same on every start and after every reset.
_SEED_NS = uuid.UUID("0e6b1f1c-5d55-4b7e-9a51-6b1d8c0f2a10")


def new_id() -> str:
    return str(uuid.uuid4())


def seed_id(*parts: str) -> str:
    return str(uuid.uuid5(_SEED_NS, "/".join(parts)))


def profile_pic(user_id: str) -> str:
    return f"https://example.invalid/profile/{user_id[:8]}.jpg"


def check_mobile(value: Any, what: str = "mobileNumber") -> str:
    if not isinstance(value, str) or not _MOBILE.match(value):
        raise bad_request(f"{what} must be a phone number with country code, like +919100000001")
    return value


class SimState:
    def __init__(self) -> None:
        self.connectors: dict[str, Connector] = {}
        self.users: dict[str, User] = {}
        self.pins: dict[tuple[str, str], Pin] = {}
        self.last_pins: dict[str, str] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.groups: dict[str, Group] = {}
        self.actions: dict[str, Action] = {}
        self.media: dict[str, Media] = {}
        self.media_by_resource: dict[str, Media] = {}
        self.webhooks: dict[str, Webhook] = {}
        # Every endpoint name ever handed out; the last one is current, older ones answer 308.
        self.endpoint_names: list[str] = [f"{ENDPOINT_NAME_PREFIX}000"]

    @classmethod
    def seeded(cls, now: float, with_sample: bool) -> SimState:
        state = cls()
        if not with_sample:
            return state
        state.connectors[SAMPLE_APPLICATION_ID] = Connector(
            SAMPLE_APPLICATION_ID,
            SAMPLE_APPLICATION_SECRET,
            "Kaizala Bridge (sample connector)",
            SAMPLE_TENANT_ID,
        )
        group = Group(SAMPLE_GROUP_ID, SAMPLE_GROUP_NAME, "Welcome to the Sales Team", "Group", now)
        for mobile, name, fixed_id in SAMPLE_MEMBERS:
            user_id = fixed_id or seed_id("user", mobile)
            state.users[mobile] = User(mobile, user_id, name, profile_pic(user_id), True)
            role = "Admin" if mobile == SAMPLE_ADMIN else "Member"
            group.members[mobile] = Member(seed_id("member", SAMPLE_GROUP_ID, mobile), mobile, role)
        state.groups[group.group_id] = group
        return state

    # -- endpoint -------------------------------------------------------------------------------
    @property
    def endpoint_name(self) -> str:
        return self.endpoint_names[-1]

    def move_endpoint(self) -> str:
        self.endpoint_names.append(f"{ENDPOINT_NAME_PREFIX}{len(self.endpoint_names):03d}")
        return self.endpoint_name

    # -- users ----------------------------------------------------------------------------------
    def user(self, mobile: str) -> User:
        """The user behind a phone number; unknown numbers get a generated profile, as Kaizala
        creates an unprovisioned user for anyone added by number."""
        found = self.users.get(mobile)
        if found is None:
            user_id = seed_id("user", mobile)
            found = User(mobile, user_id, f"User {mobile[-4:]}", profile_pic(user_id), False)
            self.users[mobile] = found
        return found

    # -- lookups that answer 404/403 ------------------------------------------------------------
    def group(self, group_id: str) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            raise not_found(f"group {group_id}")
        return group

    def action(self, group: Group, action_id: str) -> Action:
        action = self.actions.get(action_id)
        if action is None or action.group_id != group.group_id:
            raise not_found(f"action {action_id} in group {group.group_id}")
        return action

    def webhook(self, webhook_id: str) -> Webhook:
        hook = self.webhooks.get(webhook_id)
        if hook is None:
            raise not_found(f"webhook {webhook_id}")
        return hook

    def is_member(self, group: Group, mobile: str) -> bool:
        """Members of a group see its sub-groups too (admins manage the hierarchy)."""
        seen: set[str] = set()
        todo = [group.group_id]
        while todo:
            current = self.groups.get(todo.pop())
            if current is None or current.group_id in seen:
                continue
            seen.add(current.group_id)
            if mobile in current.members:
                return True
            todo.extend(current.parents)
        return False

    def require_member(self, group: Group, mobile: str) -> None:
        if not self.is_member(group, mobile):
            raise forbidden(f"{mobile} is not a member of group {group.group_id}")

    def require_admin(self, group: Group, mobile: str) -> None:
        member = group.members.get(mobile)
        if member is not None and member.role == "Admin":
            return
        # Admins of a parent group administer its sub-groups.
        for parent_id in group.parents:
            parent = self.groups.get(parent_id)
            if parent is not None:
                try:
                    self.require_admin(parent, mobile)
                except ApiError:
                    continue
                return
        raise forbidden(f"{mobile} is not an admin of group {group.group_id}")

    def media_for(self, resource: Any, what: str) -> Media:
        if not isinstance(resource, str) or not resource:
            raise bad_request(f"{what} must be a mediaResource string returned by POST media")
        media = self.media_by_resource.get(resource)
        if media is None:
            raise bad_request(f"{what} is not a mediaResource returned by POST media")
        return media

    def ancestors(self, group_id: str) -> set[str]:
        found: set[str] = set()
        todo = [group_id]
        while todo:
            group = self.groups.get(todo.pop())
            if group is None:
                continue
            for parent in group.parents:
                if parent not in found:
                    found.add(parent)
                    todo.append(parent)
        return found
