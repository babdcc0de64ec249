"""A group per opportunity (`OPPORTUNITY_GROUP_MODE=per-opportunity`).

A new opportunity gets its own Kaizala group, named after it, with the people Dynamics knows:
the owner (`_ownerid_value` -> `systemusers.mobilephone`), the contact
(`_parentcontactid_value` -> `contacts.mobilephone`) and `OPPORTUNITY_GROUP_EXTRA_MEMBERS`.
The group is registered with the opportunity as its record and its chat subscribed
(`conversation`). Its identity is the opportunity (the regarding key of the group claims), so a
Dataverse retry, or a second delivery, finds the same group and reads nothing again.

A person without a usable mobile number (none, no country code, not found, not readable) is
skipped, logged without any number, and kept on the group's row (`skippedMembers`), which the
action status reports. Only a transient Dataverse failure fails the call (503: Dataverse
retries).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from shared.adapters.dataverse import DataverseClient, DataversePermanentError
from shared.config import Settings
from shared.domain.actions import SkippedMember
from shared.domain.groups import (
    CreateGroupRequest,
    GroupRegarding,
    MemberIn,
    mobile_problem,
    normalize_mobile,
    regarding_key,
    unique_numbers,
)
from shared.logsafe import log_value
from shared.services.groups import GroupService
from shared.stores.groups import GroupStore

log = logging.getLogger(__name__)

ENTITY: Literal["opportunity"] = "opportunity"  # the one entity a group request names
Role = Literal["owner", "contact"]
# role -> (the opportunity's lookup column, the entity set it points into)
PEOPLE: dict[Role, tuple[str, str]] = {
    "owner": ("_ownerid_value", "systemusers"),
    "contact": ("_parentcontactid_value", "contacts"),
}


@dataclass(frozen=True)
class OpportunityGroup:
    group_id: str
    skipped: tuple[SkippedMember, ...]


class OpportunityGroups:
    def __init__(
        self,
        groups: GroupService,
        store: GroupStore,
        dataverse: Callable[[], DataverseClient],
        settings: Settings,
    ) -> None:
        self._groups = groups
        self._store = store
        self._dataverse = dataverse  # built on first use: DATAVERSE_URL is needed only here
        self._settings = settings

    async def group_for(self, opportunity_id: str, name: str) -> OpportunityGroup:
        """The opportunity's group: found by its claim, else created with its people."""
        claim = await self._store.get_claim(regarding_key(ENTITY, opportunity_id))
        if claim is not None and claim.status == "created":
            record = await self._store.find(claim.group_id)
            return OpportunityGroup(claim.group_id, record.skipped if record else ())
        numbers, skipped = await self._people(opportunity_id)
        numbers = unique_numbers([*numbers, *self._settings.opportunity_group_extra_members])
        req = CreateGroupRequest(
            name=name,
            welcomeMessage=f"The team of the opportunity {name}.",
            members=[MemberIn(mobileNumber=n) for n in numbers],
            regarding=GroupRegarding(entityType=ENTITY, id=opportunity_id),
        )
        outcome = await self._groups.create(
            req, None, conversation=True, skipped=skipped, any_request=True
        )
        return OpportunityGroup(outcome.body.groupId, outcome.record.skipped)

    async def _people(self, opportunity_id: str) -> tuple[list[str], tuple[SkippedMember, ...]]:
        dataverse = self._dataverse()
        numbers: list[str] = []
        skipped: list[SkippedMember] = []

        def skip(role: Role, reason: str, person_id: str | None = None) -> None:
            # The reason names no number: only the role, the row id and what was wrong.
            log.warning(
                "opportunity %s: %s not added to its group: %s", opportunity_id, role, reason
            )
            skipped.append(SkippedMember(role=role, reason=reason, id=person_id))

        lookups = [column for column, _ in PEOPLE.values()]
        try:
            opportunity = await dataverse.get_row("opportunities", opportunity_id, lookups)
        except DataversePermanentError as exc:
            opportunity = None
            log.warning("opportunity %s: not readable: %s", opportunity_id, log_value(exc))
        for role, (column, entity_set) in PEOPLE.items():
            if opportunity is None:
                skip(role, "the opportunity could not be read from Dataverse")
                continue
            person_id = opportunity.get(column)
            if not isinstance(person_id, str) or not person_id:
                skip(role, f"the opportunity has no {role}")
                continue
            try:
                row = await dataverse.get_row(entity_set, person_id, ["mobilephone"])
            except DataversePermanentError as exc:
                skip(role, f"not readable in Dataverse ({exc.upstream_status})", person_id)
                continue
            if row is None:
                # An opportunity owned by a team has no systemuser behind its owner.
                skip(role, f"no {entity_set} row with that id", person_id)
                continue
            number = normalize_mobile(row.get("mobilephone"))
            if number is None:
                skip(role, mobile_problem(row.get("mobilephone")), person_id)
                continue
            numbers.append(number)
        return numbers, tuple(skipped)
