"""Content: messages, actions, responses, reminders, media; and the queries of actions."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.adapters.kaizala.answers import dump, parse
from shared.adapters.kaizala.api_base import PlatformApi
from shared.adapters.kaizala.endpoints import segment
from shared.adapters.kaizala.errors import KaizalaValidationError
from shared.adapters.kaizala.models_base import OperationResult, build
from shared.adapters.kaizala.models_content import (
    ActionBody,
    ActionDetails,
    ActionListPage,
    ActionResult,
    ActionSend,
    AnnouncementBody,
    CustomActionBody,
    CustomActionOverride,
    ImageBody,
    JobBody,
    MediaResult,
    MessageResult,
    MessageSend,
    PollBody,
    ResponseResult,
    SubscriberMessageSend,
    SurveyBody,
)

_FILENAME_PATTERN = re.compile(r"[^\x00-\x1f\x7f\"\\/]{1,255}")
# The documented body of each built-in type: a mapping given for one is read through its model,
# so the wire body has the swagger's exact names and required fields (defaults filled in).
# Let's Meet has no documented model and goes as given.
_BODY_MODELS: dict[str, type[BaseModel]] = {
    "Survey": SurveyBody,
    "Job": JobBody,
    "Poll": PollBody,
    "Announcement": AnnouncementBody,
    **dict.fromkeys(("Image", "Audio", "Document", "Video", "Album"), ImageBody),
}


class ContentApi(PlatformApi):
    async def send_message(
        self,
        group_id: str,
        message: str,
        *,
        subscribers: Sequence[str] | None = None,
        send_to_all_subscribers: bool | None = None,
    ) -> MessageResult:
        """SendMessage; with an audience, SendMessageToSubscriber (a public group's subscribers:
        `Message` up to 1,000 characters, `subscribers` [] and `sendToAllSubscribers` false
        unless given)."""
        gid = segment(group_id, "group_id")
        body: BaseModel
        if subscribers is None and send_to_all_subscribers is None:
            body = build(MessageSend, {"message": message})
        else:
            body = build(
                SubscriberMessageSend,
                {
                    "Message": message,
                    "subscribers": list(subscribers or []),
                    "sendToAllSubscribers": bool(send_to_all_subscribers),
                },
            )
        call, response = await self._platform(
            "POST", "groups/{groupId}/messages", f"groups/{gid}/messages", json_body=dump(body)
        )
        return parse(MessageResult, response, call)

    async def send_action(
        self,
        group_id: str,
        *,
        action_type: str | None = None,
        action_package_id: str | None = None,
        action_body: ActionBody | Mapping[str, Any],
        subscribers: Sequence[str] | None = None,
        send_to_all_subscribers: bool | None = None,
    ) -> ActionResult:
        """Post a built-in action (`action_type`) or a custom one (`action_package_id`).

        A mapping body of a documented type is read through its model (exact names, the
        swagger's required fields with their documented defaults). A custom action to a public
        group's subscribers carries both audience fields, as the swagger requires.
        """
        if (action_type is None) == (action_package_id is None):
            raise KaizalaValidationError("give exactly one of action_type and action_package_id")
        gid = segment(group_id, "group_id")
        payload = dump(_action_body(action_type, action_body))
        audience = subscribers is not None or send_to_all_subscribers is not None
        if action_package_id is not None and audience:
            subscribers = list(subscribers or [])
            send_to_all_subscribers = bool(send_to_all_subscribers)
        body = ActionSend(
            actionType=action_type,
            id=action_package_id,
            actionBody=payload,
            subscribers=list(subscribers) if subscribers is not None else None,
            sendToAllSubscribers=send_to_all_subscribers,
        )
        call, response = await self._platform(
            "POST", "groups/{groupId}/actions", f"groups/{gid}/actions", json_body=dump(body)
        )
        return parse(ActionResult, response, call)

    async def post_response(
        self, group_id: str, action_id: str, body: BaseModel | Mapping[str, Any]
    ) -> ResponseResult:
        """Post (or, with `responseId` in `body`, edit) a response to an action."""
        gid = segment(group_id, "group_id")
        aid = segment(action_id, "action_id")
        payload = dump(body) if isinstance(body, BaseModel) else dict(body)
        call, response = await self._platform(
            "POST",
            "groups/{groupId}/actions/{actionId}/responses",
            f"groups/{gid}/actions/{aid}/responses",
            json_body=payload,
        )
        return parse(ResponseResult, response, call)

    async def send_reminder(self, group_id: str, action_id: str) -> OperationResult:
        gid = segment(group_id, "group_id")
        aid = segment(action_id, "action_id")
        call, response = await self._platform(
            "POST",
            "groups/{groupId}/actions/{actionId}/reminder",
            f"groups/{gid}/actions/{aid}/reminder",
        )
        return parse(OperationResult, response, call)

    async def upload_media(self, filename: str, content: bytes, content_type: str) -> MediaResult:
        """Upload a file; the answer's `mediaResource` goes into Image/Announcement actions."""
        if not isinstance(filename, str) or not _FILENAME_PATTERN.fullmatch(filename):
            raise KaizalaValidationError("filename is malformed")
        if not re.fullmatch(r"[\w.+-]+/[\w.+-]+", content_type):
            raise KaizalaValidationError("content_type is malformed")
        files = {"FileName": (filename, bytes(content), content_type)}
        call, response = await self._platform("POST", "media", "media", files=files)
        return parse(MediaResult, response, call)

    # --- content query -----------------------------------------------------------------------

    async def list_actions(
        self,
        group_id: str,
        action_type: str,
        from_date: datetime | int | None = None,
        count: int | None = None,
    ) -> ActionListPage:
        """One page of a group's actions; `from_date` is a datetime or epoch milliseconds."""
        gid = segment(group_id, "group_id")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,63}", action_type):
            raise KaizalaValidationError("action_type is malformed")
        params: dict[str, str] = {"actionType": action_type}
        if from_date is not None:
            if isinstance(from_date, datetime):
                if from_date.tzinfo is None:
                    raise KaizalaValidationError("from_date must be timezone-aware")
                from_date = int(from_date.timestamp() * 1000)
            params["fromDate"] = str(int(from_date))
        if count is not None:
            if count < 1:
                raise KaizalaValidationError("count must be positive")
            params["count"] = str(count)
        call, response = await self._platform(
            "GET", "groups/{groupId}/actions", f"groups/{gid}/actions", params=params
        )
        return parse(ActionListPage, response, call)

    async def get_action(
        self, group_id: str, action_id: str, details: bool = True
    ) -> ActionDetails:
        gid = segment(group_id, "group_id")
        aid = segment(action_id, "action_id")
        call, response = await self._platform(
            "GET",
            "groups/{groupId}/actions/{actionId}",
            f"groups/{gid}/actions/{aid}",
            params={"getDetails": "true" if details else "false"},
        )
        return parse(ActionDetails, response, call)


def _action_body(action_type: str | None, body: BaseModel | Mapping[str, Any]) -> BaseModel:
    """The actionBody as its documented model (a custom one by its shape)."""
    if isinstance(body, BaseModel):
        return body
    if action_type is None:
        custom = CustomActionBody if "properties" in body else CustomActionOverride
        return build(custom, dict(body))
    model = _BODY_MODELS.get(action_type)
    return build(model if model is not None else _Verbatim, dict(body))


class _Verbatim(BaseModel):
    """A body of a type without a documented model (Let's Meet): sent as given."""

    model_config = ConfigDict(defer_build=True, extra="allow")
