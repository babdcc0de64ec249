"""The simulator's in-memory records and the enumerations of the documented API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GRANTED_SCOPE = (
    "groupinfo.read,groupinfo.write,groupinfo.remove,groupinfo.update,groupmember.read,"
    "groupmember.write,groupmember.remove,textmessage.read,action.read,action.write,"
    "action.update,profile.write,media.read,webhook.read,webhook.write,webhook.remove,"
    "webhook.update"
)

EVENT_TYPES = (
    "ActionCreated",
    "ActionResponse",
    "SurveyCreated",
    "JobCreated",
    "SurveyResponse",
    "JobResponse",
    "TextMessageCreated",
    "AttachmentCreated",
    "Announcement",
    "MemberAdded",
    "MemberRemoved",
    "GroupAdded",
    "GroupRemoved",
)
OBJECT_TYPES = ("Group", "Action", "ActionPackage")

QUESTION_TYPES = (
    "SingleOption",
    "MultiOption",
    "Text",
    "Image",
    "Numeric",
    "Date",
    "DateTime",
    "Location",
    "AttachmentList",
)
OPTION_TYPES = ("SingleOption", "MultiOption")

# Built-in action types that take a POST; media types share one body shape.
MEDIA_ACTION_TYPES = ("Image", "Audio", "Document", "Video", "Album")
BUILTIN_ACTION_TYPES = ("Survey", "Job", "Poll", "LetsMeet", "Announcement", *MEDIA_ACTION_TYPES)
CUSTOM_ACTION_TYPE = "Custom"
PROPERTY_TYPES = (
    "Text",
    "Numeric",
    "Location",
    "DateTime",
    "StringList",
    "Attachment",
    "StringSet",
    "AttachmentList",
)
LETS_MEET_OPTIONS = ("Yes", "No", "Maybe")


@dataclass
class Connector:
    application_id: str
    secret: str
    name: str
    tenant_id: str


@dataclass
class User:
    mobile: str
    user_id: str
    name: str
    profile_pic: str
    provisioned: bool


@dataclass
class Pin:
    pin: str
    expires_at: float


@dataclass
class RefreshToken:
    token: str
    application_id: str
    mobile: str
    issued_at: float
    expires_at: float
    revoked: bool = False
    successor: str | None = None


@dataclass
class AccessToken:
    token: str
    application_id: str
    mobile: str
    expires_at: float


@dataclass
class Member:
    member_id: str
    mobile: str
    role: str  # "Admin" or "Member"


@dataclass
class Subscriber:
    subscriber_id: str
    mobile: str


@dataclass
class Message:
    reference_id: str
    sender: str
    text: str
    sent_at: float


@dataclass
class Group:
    group_id: str
    name: str
    welcome_message: str
    group_type: str  # "Group" or "ConnectGroup"
    created_at: float
    members: dict[str, Member] = field(default_factory=dict)  # by mobile number
    subgroups: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    subscribers: dict[str, Subscriber] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)


@dataclass
class Question:
    title: str
    qtype: str
    options: list[str] = field(default_factory=list)
    invisible: bool = False


@dataclass
class Response:
    response_id: str
    responder: str
    anonymous: bool
    answers: list[Any]  # normalized, one per question (surveys, polls, custom actions)
    created_at: float
    updated_at: float
    is_completed: bool = False  # jobs
    name: str | None = None
    location: dict[str, Any] | None = None
    titles: list[str] | None = None  # custom actions: titles given with the answers


@dataclass
class Action:
    action_id: str
    reference_id: str
    group_id: str
    action_type: str  # a BUILTIN_ACTION_TYPES value or CUSTOM_ACTION_TYPE
    package_id: str | None
    sender: str
    created_at: float
    body: dict[str, Any]  # the validated, normalized actionBody
    questions: list[Question] = field(default_factory=list)
    responses: dict[str, Response] = field(default_factory=dict)
    reminders: int = 0

    @property
    def title(self) -> str:
        return str(self.body.get("title") or self.body.get("question") or "")


@dataclass
class Media:
    media_id: str
    resource: str
    file_name: str
    content_type: str
    data: bytes
    url: str


@dataclass
class Webhook:
    webhook_id: str
    object_id: str
    object_type: str
    event_types: list[str]
    callback_url: str
    callback_token: str
    callback_context: str
    validity: int  # epoch ms
    created_at: float
    application_id: str
    active: bool = True
    failures: int = 0


@dataclass
class Fault:
    fault_id: str
    path_regex: str
    status: int | None
    remaining: int
    retry_after: int | None
    delay_seconds: float
    method: str | None
