"""Who and what the demo uses: the seeded admin, the opportunities, the members and their answers.

The people of the first part and its opportunity are seeded in the simulators
(devtools.kaizala_sim and devtools.dataverse_sim); the deal team of the second part (its
opportunity, owner and contact) is seeded in the Dataverse simulator by the demo. The answers
fit templates/opportunity-survey.json.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.clock import Clock

ADMIN_MOBILE = "+919100000001"  # the seeded Sales Team admin; sends the survey
OPPORTUNITY_ID = "b5e7c3a0-3f1d-4c2b-9a8e-7d6f5e4c3b2a"  # seeded in the Dataverse simulator
OPPORTUNITY_NAME = "Contoso – 500 laptops"
# The question types of templates/opportunity-survey.json, in order.
SURVEY_TYPES = ("SingleOption", "Numeric", "MultiOption", "Date", "Text")


@dataclass(frozen=True)
class Answering:
    """What one member does in the Kaizala app: answers (in question order), maybe more."""

    mobile: str
    answers: tuple[Any, ...]
    edit: tuple[Any, ...] | None = None  # answered again later: the same responseId
    duplicates: int = 0  # extra deliveries of the same event
    during_outage: bool = False  # answered while the Dataverse simulator is down


def date_answers(clock: Clock) -> Callable[[int], int]:
    """An answer to a Date question: midnight UTC `days` from the clock's today, in epoch ms."""

    def days_ahead(days: int) -> int:
        today = datetime.fromtimestamp(clock(), UTC).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        return int(today.timestamp() + days * 86400) * 1000

    return days_ahead


def members(clock: Clock) -> tuple[Answering, ...]:
    """The three members who answer; their Date answers are days ahead of the clock's today."""
    days_ahead = date_answers(clock)
    return (
        Answering(
            "+919100000002",
            ("Likely", 120000, ["Incumbent vendor"], days_ahead(45), "Demo for their IT"),
            edit=(
                "Very likely",
                150000,
                ["Incumbent vendor", "New entrant"],
                days_ahead(30),
                "IT demo went well; PO expected this month",
            ),
        ),
        Answering(
            "+919100000003",
            ("Too early to say", 80000, ["No competitor"], days_ahead(75), "Waiting for RFP"),
            duplicates=1,
        ),
        Answering(
            "+919100000004",
            ("Unlikely", 40000, ["Building in-house"], days_ahead(120), "Piloting own tool"),
            during_outage=True,
        ),
    )


def opportunity_context(
    opportunity_id: str = OPPORTUNITY_ID, name: str = OPPORTUNITY_NAME
) -> dict[str, Any]:
    """What Dataverse posts to a webhook step on Create of opportunity (trimmed, realistic)."""
    return {
        "BusinessUnitId": "3c5a8f2e-1b7d-4e60-9f2a-5d8c7b6a4e31",
        "CorrelationId": "0c8f2a51-7d3e-4b9a-8e6f-1a2b3c4d5e6f",
        "Depth": 1,
        "InitiatingUserId": "9d2e4f6a-8b1c-4d3e-a5f7-0b9c8d7e6f5a",
        "InputParameters": [
            {
                "key": "Target",
                "value": {
                    "__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
                    "Attributes": [
                        {"key": "name", "value": name},
                        {"key": "opportunityid", "value": opportunity_id},
                        {"key": "estimatedvalue", "value": {"Value": 420000.0}},
                        {"key": "estimatedclosedate", "value": "/Date(1743379200000)/"},
                        {
                            "key": "parentaccountid",
                            "value": {
                                "Id": "4e7a2c1d-9b8f-4a6e-8d5c-3b2a1f0e9d8c",
                                "LogicalName": "account",
                                "Name": "Contoso Ltd",
                            },
                        },
                        {"key": "statecode", "value": {"Value": 0}},
                    ],
                    "EntityState": None,
                    "FormattedValues": [],
                    "Id": opportunity_id,
                    "LogicalName": "opportunity",
                    "RelatedEntities": [],
                },
            }
        ],
        "IsExecutingOffline": False,
        "IsInTransaction": False,
        "IsOfflinePlayback": False,
        "IsolationMode": 1,
        "MessageName": "Create",
        "Mode": 1,
        "OperationCreatedOn": "/Date(1740000000000)/",
        "OperationId": "5b1d3f7e-2a4c-4e8b-9c6d-7f0e1a2b3c4d",
        "OrganizationId": "8f3e2d1c-0b9a-4c8d-9e7f-6a5b4c3d2e1f",
        "OrganizationName": "contoso",
        "OutputParameters": [{"key": "id", "value": opportunity_id}],
        "OwningExtension": {
            "Id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            "LogicalName": "sdkmessageprocessingstep",
            "Name": "Kaizala Bridge: Create of opportunity",
        },
        "PostEntityImages": [],
        "PreEntityImages": [],
        "PrimaryEntityId": opportunity_id,
        "PrimaryEntityName": "opportunity",
        "RequestId": "6c2e4a8f-3b5d-4f7a-9e1c-8d0b2a4c6e8f",
        "SecondaryEntityName": "none",
        "SharedVariables": [],
        "Stage": 40,
        "UserId": "9d2e4f6a-8b1c-4d3e-a5f7-0b9c8d7e6f5a",
    }


# ---- the second part: a group per opportunity ---------------------------------------------

TEAM_OPPORTUNITY_ID = "3e1f5a7c-9b2d-4c6e-8f1a-2b3c4d5e6f70"  # seeded by the demo
TEAM_OPPORTUNITY_NAME = "Tailwind Traders – 60 kiosks"
# The settings the host is restarted with for the second part.
TEAM_SETTINGS = {
    "OPPORTUNITY_GROUP_MODE": "per-opportunity",
    "OPPORTUNITY_GROUP_EXTRA_MEMBERS": "+919100000003",  # the sales manager, on every deal
}


@dataclass(frozen=True)
class TeamMember:
    """One person of the opportunity's group: where the bridge found them, and what they do."""

    role: str  # owner / contact (read from Dataverse), extra (OPPORTUNITY_GROUP_EXTRA_MEMBERS)
    name: str  # as Kaizala knows them (the simulator's seeded profiles)
    mobile: str  # E.164, as Kaizala has it
    answers: tuple[Any, ...]
    backfilled: bool  # answers while the bridge's subscription is gone
    dataverse_id: str = ""  # the systemuser or contact row
    dataverse_mobile: str = ""  # `mobilephone` as typed in Dynamics


def team(clock: Clock) -> tuple[TeamMember, ...]:
    """The owner and contact (from Dataverse) and the extra member, in the order they answer."""
    days_ahead = date_answers(clock)
    return (
        TeamMember(
            "owner",
            "Vikram Shah",
            "+919100000002",
            ("Likely", 250000, ["Incumbent vendor"], days_ahead(40), "Pilot in two stores"),
            backfilled=False,
            dataverse_id="6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d",
            dataverse_mobile="+91 91000 00002",  # spaces as typed: the bridge normalises it
        ),
        TeamMember(
            "contact",
            "Rohan Das",
            "+919100000004",
            ("Very likely", 240000, ["No competitor"], days_ahead(30), "Board approved it"),
            backfilled=True,
            dataverse_id="7b8c9d0e-1f2a-4b3c-9d4e-5f6a7b8c9d0e",
            dataverse_mobile="+919100000004",
        ),
        TeamMember(
            "extra",
            "Meera Iyer",
            "+919100000003",
            ("Likely", 260000, ["Incumbent vendor", "New entrant"], days_ahead(50), "Pricing?"),
            backfilled=True,
        ),
    )


CHAT_MESSAGE = "Can we see a kiosk in one of your stores next week?"  # from the contact
PHOTO_NAME = "kiosk-mockup.png"  # from the owner
PHOTO_CAPTION = "The kiosk mock-up for Tailwind"
# A 1x1 PNG: the simulator stores the bytes; nothing decodes them.
PHOTO = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
)
