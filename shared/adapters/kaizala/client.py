"""The async Kaizala v1 client: one per process, around one pooled `httpx.AsyncClient`.

Every call goes through `_execute`, which owns the rules that keep the connector healthy and
its token safe:
- the access token only goes to https hosts matching `allowed_hosts` or the token's own
  endpoint host (plain http only on loopback), checked before every send, redirects included;
- 308 is followed (at most `max_redirects` times) and the moved base URL is persisted;
- 429 pauses the shared limiter for Retry-After, then retries a bounded number of times;
- 5xx and transport errors are retried with full-jitter back-off, but a POST only when the
  request cannot have reached Kaizala (retrying a POST could post a survey twice);
- 401 on a platform call refreshes the token once and retries once.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import math
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urljoin, urlsplit

import httpx
from pydantic import BaseModel, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from shared.adapters.kaizala.auth import AccessToken, AccessTokenProvider
from shared.adapters.kaizala.errors import (
    KaizalaAuthError,
    KaizalaBadRequestError,
    KaizalaEndpointRefusedError,
    KaizalaError,
    KaizalaNotFoundError,
    KaizalaRateLimitedError,
    KaizalaRedirectRefusedError,
    KaizalaServerError,
    KaizalaTransportError,
    KaizalaValidationError,
)
from shared.adapters.kaizala.limiter import RateLimiter
from shared.adapters.kaizala.models import (
    AccessTokenResponse,
    ActionBody,
    ActionDetails,
    ActionListPage,
    ActionResult,
    ActionSend,
    GeneratePinRequest,
    Group,
    GroupCreate,
    GroupCreated,
    GroupType,
    LoginWithPinRequest,
    MediaResult,
    Member,
    MembersAdd,
    MessageResult,
    MessageSend,
    ObjectType,
    OperationResult,
    RefreshTokenResponse,
    ResponseResult,
    SubGroupsAdd,
    SubscribersChange,
    SubscribersPage,
    SubscribersQuery,
    Webhook,
    WebhookActivate,
    WebhookCreate,
    WebhookCreated,
)
from shared.config import is_loopback_host
from shared.logsafe import redact

if TYPE_CHECKING:
    from shared.config import Settings

logger = logging.getLogger("shared.adapters.kaizala")

DEFAULT_API_ROOT = "https://api.kaiza.la/v1"
DEFAULT_ALLOWED_HOSTS = ("*.kaiza.la",)
AUTH_HEADER = "accessToken"  # Kaizala's own header, not `Authorization`
ID_PATTERN = re.compile(r"[A-Za-z0-9-]{1,64}")
OBJECT_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,128}")  # action package ids contain dots
_FILENAME_PATTERN = re.compile(r"[^\x00-\x1f\x7f\"\\/]{1,255}")

_IDEMPOTENT = frozenset({"GET", "PUT", "DELETE"})
# Failures that happen before a byte of the request left: safe to retry even for a POST.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_REQUEST_ID_HEADERS = ("x-ms-request-id", "request-id", "x-request-id", "x-correlation-id")

Sleep = Callable[[float], Awaitable[None]]
M = TypeVar("M", bound=BaseModel)
_SYSTEM_RANDOM = random.SystemRandom()  # jitter only; not security relevant, but lint-clean


def build_http_client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The one pooled HTTP client of the process (pass a transport only in tests)."""
    return httpx.AsyncClient(
        transport=transport,
        # Kaizala documents a 1 min client timeout; connect/pool fail fast so a retry can run.
        timeout=httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=10.0),
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        # Redirects are followed by hand: each hop is checked before the token goes there.
        follow_redirects=False,
        headers={"User-Agent": "kaizala-bridge/0.1"},
    )


def segment(value: str, what: str, pattern: re.Pattern[str] = ID_PATTERN) -> str:
    """`value` as one URL path segment, or KaizalaValidationError: input never changes a path."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise KaizalaValidationError(f"{what} is malformed (expected {pattern.pattern})")
    return quote(value, safe="")


def parse_retry_after(
    value: str | None,
    *,
    default: float = 60.0,
    cap: float = 120.0,
    now: datetime | None = None,
) -> float:
    """Seconds to wait from a Retry-After header (seconds or HTTP date), bounded by `cap`."""
    if value is None or not value.strip():
        return min(default, cap)
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return min(default, cap)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    if not math.isfinite(seconds) or seconds < 0:
        return min(default, cap)
    return min(seconds, cap)


def is_token_destination(
    url: str, allowed_hosts: Sequence[str], endpoint_host: str | None = None
) -> bool:
    """May an access token (or a credential) be sent to `url`?

    https to a host matching an `allowed_hosts` pattern or equal to `endpoint_host` (the host
    the token service named); plain http only when that host is a loopback address.
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        has_credentials = bool(parts.username or parts.password)
    except ValueError:
        return False
    if not host or has_credentials:
        return False
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(host)):
        return False
    if endpoint_host and host == endpoint_host.rstrip(".").lower():
        return True
    return any(fnmatch.fnmatchcase(host, pattern.strip().lower()) for pattern in allowed_hosts)


def _host(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def platform_url(base: str, rel_path: str) -> str:
    """`<endpointUrl>/v1/<rel_path>`; tolerates a base given with or without `/v1`."""
    root = base.rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return f"{root}/v1/{rel_path}"


def base_from_location(location: str, rel_path: str) -> str | None:
    """The new endpoint base from a 308 Location: the URL with its `v1/...` suffix removed."""
    parts = urlsplit(location)
    path = parts.path
    suffix = f"/v1/{rel_path}"
    if path.endswith(suffix):
        prefix = path[: -len(suffix)]
    else:
        index = path.find("/v1/")
        if index < 0:
            return None
        prefix = path[:index]
    return f"{parts.scheme}://{parts.netloc}{prefix}/"


def _path_of(url: str) -> str:
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return "?"


def _request_id(response: httpx.Response) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return str(value)
    return None


class _SecretMemory:
    """The secret values this client has handled lately, hidden from every error it raises.

    A call knows its own secrets, but a server may echo an older one (a previous access
    token, a callBackToken registered earlier); remembering a bounded few covers that too.
    """

    def __init__(self, size: int = 64) -> None:
        self._values: deque[str] = deque(maxlen=size)

    def add(self, value: str | None) -> None:
        if value and value not in self._values:
            self._values.append(value)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._values))


@dataclass
class _Call:
    """One logical operation, possibly several HTTP attempts."""

    method: str
    template: str  # path with placeholders, for logs and metrics
    rel_path: str
    memory: _SecretMemory
    local_secrets: tuple[str, ...] = ()  # hidden in this call's errors only (a one-time PIN)
    url: str = ""
    attempts: int = 0
    started: float = field(default_factory=time.perf_counter)

    def learn(self, *values: str | None) -> None:
        for value in values:
            self.memory.add(value)

    def error_kwargs(self) -> dict[str, Any]:
        return {"method": self.method, "path": _path_of(self.url), "secrets": self.secrets()}

    def secrets(self) -> list[str]:
        return [*self.local_secrets, *self.memory]


class KaizalaClient:
    """Kaizala v1 operations. Built once per process; safe for concurrent use."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_root: str,
        allowed_hosts: Sequence[str],
        limiter: RateLimiter,
        tokens: AccessTokenProvider,
        *,
        max_attempts: int = 3,
        rate_limit_attempts: int = 3,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        max_redirects: int = 3,
        retry_after_default: float = 60.0,
        retry_after_cap: float = 120.0,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[], float] = _SYSTEM_RANDOM.random,
    ) -> None:
        root = api_root.rstrip("/")
        if not is_token_destination(root, (), _host(root)):
            raise ValueError("api_root must be an https URL (plain http only for loopback hosts)")
        self._http = http
        self._api_root = root
        self._allowed_hosts = tuple(h for h in allowed_hosts if h.strip())
        self._limiter = limiter
        self._tokens = tokens
        self._max_attempts = max(1, max_attempts)
        self._rate_limit_attempts = max(1, rate_limit_attempts)
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._max_redirects = max_redirects
        self._retry_after_default = retry_after_default
        self._retry_after_cap = retry_after_cap
        self._sleep = sleep
        self._jitter = jitter
        self._secrets = _SecretMemory()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        tokens: AccessTokenProvider,
        *,
        http: httpx.AsyncClient | None = None,
        limiter: RateLimiter | None = None,
    ) -> KaizalaClient:
        return cls(
            http or build_http_client(),
            settings.kaizala_api_root,
            settings.kaizala_allowed_hosts,
            limiter
            or RateLimiter(
                settings.kaizala_calls_per_minute, settings.kaizala_throttle_window_seconds
            ),
            tokens,
        )

    @property
    def limiter(self) -> RateLimiter:
        return self._limiter

    async def aclose(self) -> None:
        """Close the pooled HTTP client (process shutdown)."""
        await self._http.aclose()

    # --- token service (no access token; credentials are arguments, never logged) ---------

    async def generate_pin(self, mobile: str, application_id: str) -> None:
        body = GeneratePinRequest(mobileNumber=mobile, applicationId=application_id)
        await self._service("POST", "generatePin", json_body=_dump(body), secrets=())

    async def login_with_pin(
        self, mobile: str, application_id: str, pin: int | str
    ) -> RefreshTokenResponse:
        try:
            pin_number = int(pin)
        except (TypeError, ValueError):
            raise KaizalaValidationError("pin must be a number") from None
        body = LoginWithPinRequest(
            mobileNumber=mobile, applicationId=application_id, pin=pin_number
        )
        call, response = await self._service(
            "POST",
            "loginWithPinAndApplicationId",
            json_body=_dump(body),
            secrets=(),
            local_secrets=(str(pin),),
        )
        result = self._parse(RefreshTokenResponse, response, call)
        call.learn(result.refreshToken)
        return result

    async def fetch_access_token(
        self, application_id: str, application_secret: str, refresh_token: str
    ) -> AccessTokenResponse:
        headers = {
            "applicationId": application_id,
            "applicationSecret": application_secret,
            "refreshToken": refresh_token,
        }
        call, response = await self._service(
            "GET", "accessToken", headers=headers, secrets=[application_secret, refresh_token]
        )
        result = self._parse(AccessTokenResponse, response, call)
        call.learn(result.accessToken, result.refreshToken)
        # Refuse a bad endpoint here, so the token manager never stores one.
        if not is_token_destination(result.endpointUrl, (), _host(result.endpointUrl)):
            raise KaizalaEndpointRefusedError(
                "token service returned an endpointUrl that is not https (or http on loopback)",
                status=response.status_code,
                **call.error_kwargs(),
            )
        return result

    # --- groups ------------------------------------------------------------------------------

    async def list_groups(self) -> list[Group]:
        call, response = await self._platform("GET", "groups", "groups")
        return self._parse_list(Group, response, call, "groups")

    async def get_group(self, group_id: str) -> Group:
        gid = segment(group_id, "group_id")
        call, response = await self._platform("GET", "groups/{groupId}", f"groups/{gid}")
        data = self._json(response, call)
        if (
            isinstance(data, dict)
            and "groupId" not in data
            and isinstance(data.get("groups"), list)
        ):
            # Some deployments wrap the one group in a list, like `GET groups`.
            groups = self._parse_list(Group, response, call, "groups")
            match = [g for g in groups if g.groupId == group_id] or groups[:1]
            if not match:
                raise KaizalaNotFoundError(
                    "Kaizala returned no group", status=response.status_code, **call.error_kwargs()
                )
            return match[0]
        return self._parse(Group, response, call)

    async def create_group(
        self,
        name: str,
        *,
        welcome_message: str | None = None,
        members: Sequence[str] | None = None,
        group_type: GroupType | None = None,
    ) -> GroupCreated:
        body = GroupCreate(
            name=name,
            welcomeMessage=welcome_message,
            members=list(members) if members is not None else None,
            groupType=group_type,
        )
        call, response = await self._platform("POST", "groups", "groups", json_body=_dump(body))
        return self._parse(GroupCreated, response, call)

    async def list_members(self, group_id: str) -> list[Member]:
        gid = segment(group_id, "group_id")
        call, response = await self._platform(
            "GET", "groups/{groupId}/members", f"groups/{gid}/members"
        )
        return self._parse_list(Member, response, call, "members")

    async def add_members(self, group_id: str, members: Sequence[str]) -> OperationResult:
        gid = segment(group_id, "group_id")
        body = MembersAdd(members=list(members))
        call, response = await self._platform(
            "PUT", "groups/{groupId}/members", f"groups/{gid}/members", json_body=_dump(body)
        )
        return self._parse(OperationResult, response, call)

    async def remove_member(self, group_id: str, member_id: str) -> None:
        gid = segment(group_id, "group_id")
        mid = segment(member_id, "member_id")
        await self._platform(
            "DELETE", "groups/{groupId}/members/{memberId}", f"groups/{gid}/members/{mid}"
        )

    async def create_subgroup(
        self,
        group_id: str,
        name: str,
        *,
        welcome_message: str | None = None,
        members: Sequence[str] | None = None,
        group_type: GroupType | None = None,
    ) -> GroupCreated:
        gid = segment(group_id, "group_id")
        body = GroupCreate(
            name=name,
            welcomeMessage=welcome_message,
            members=list(members) if members is not None else None,
            groupType=group_type,
        )
        call, response = await self._platform(
            "POST", "groups/{groupId}/subgroups", f"groups/{gid}/subgroups", json_body=_dump(body)
        )
        return self._parse(GroupCreated, response, call)

    async def add_subgroups(self, group_id: str, sub_group_ids: Sequence[str]) -> OperationResult:
        gid = segment(group_id, "group_id")
        body = SubGroupsAdd(subGroups=list(sub_group_ids))
        call, response = await self._platform(
            "PUT", "groups/{groupId}/subGroups", f"groups/{gid}/subGroups", json_body=_dump(body)
        )
        return self._parse(OperationResult, response, call)

    async def list_subgroups(self, group_id: str) -> Group:
        """The group with its `subGroups` (that is how Kaizala answers)."""
        gid = segment(group_id, "group_id")
        call, response = await self._platform(
            "GET", "groups/{groupId}/subGroups", f"groups/{gid}/subGroups"
        )
        return self._parse(Group, response, call)

    async def remove_subgroup(self, group_id: str, sub_group_id: str) -> None:
        gid = segment(group_id, "group_id")
        sid = segment(sub_group_id, "sub_group_id")
        await self._platform(
            "DELETE", "groups/{groupId}/subGroups/{subGroupId}", f"groups/{gid}/subGroups/{sid}"
        )

    async def list_subscribers(
        self, group_id: str, *, count: int | None = None, cursor: str | None = None
    ) -> SubscribersPage:
        gid = segment(group_id, "group_id")
        body = SubscribersQuery(count=count, cursor=cursor)
        call, response = await self._platform(
            "POST",
            "groups/{groupId}/subscribers",
            f"groups/{gid}/subscribers",
            json_body=_dump(body),
        )
        return self._parse(SubscribersPage, response, call)

    async def add_subscribers(self, group_id: str, subscribers: Sequence[str]) -> OperationResult:
        return await self._change_subscribers(group_id, subscribers, "add")

    async def remove_subscribers(
        self, group_id: str, subscribers: Sequence[str]
    ) -> OperationResult:
        return await self._change_subscribers(group_id, subscribers, "remove")

    async def _change_subscribers(
        self, group_id: str, subscribers: Sequence[str], verb: str
    ) -> OperationResult:
        gid = segment(group_id, "group_id")
        body = SubscribersChange(subscribers=list(subscribers))
        call, response = await self._platform(
            "PUT",
            f"groups/{{groupId}}/subscribers/{verb}",
            f"groups/{gid}/subscribers/{verb}",
            json_body=_dump(body),
        )
        return self._parse(OperationResult, response, call)

    # --- content creation --------------------------------------------------------------------

    async def send_message(
        self,
        group_id: str,
        message: str,
        *,
        subscribers: Sequence[str] | None = None,
        send_to_all_subscribers: bool | None = None,
    ) -> MessageResult:
        gid = segment(group_id, "group_id")
        body = MessageSend(
            message=message,
            subscribers=list(subscribers) if subscribers is not None else None,
            sendToAllSubscribers=send_to_all_subscribers,
        )
        call, response = await self._platform(
            "POST", "groups/{groupId}/messages", f"groups/{gid}/messages", json_body=_dump(body)
        )
        return self._parse(MessageResult, response, call)

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
        """Post a built-in action (`action_type`) or a custom one (`action_package_id`)."""
        if (action_type is None) == (action_package_id is None):
            raise KaizalaValidationError("give exactly one of action_type and action_package_id")
        gid = segment(group_id, "group_id")
        payload = _dump(action_body) if isinstance(action_body, BaseModel) else dict(action_body)
        body = ActionSend(
            actionType=action_type,
            id=action_package_id,
            actionBody=payload,
            subscribers=list(subscribers) if subscribers is not None else None,
            sendToAllSubscribers=send_to_all_subscribers,
        )
        call, response = await self._platform(
            "POST", "groups/{groupId}/actions", f"groups/{gid}/actions", json_body=_dump(body)
        )
        return self._parse(ActionResult, response, call)

    async def post_response(
        self, group_id: str, action_id: str, body: BaseModel | Mapping[str, Any]
    ) -> ResponseResult:
        """Post (or, with `responseId` in `body`, edit) a response to an action."""
        gid = segment(group_id, "group_id")
        aid = segment(action_id, "action_id")
        payload = _dump(body) if isinstance(body, BaseModel) else dict(body)
        call, response = await self._platform(
            "POST",
            "groups/{groupId}/actions/{actionId}/responses",
            f"groups/{gid}/actions/{aid}/responses",
            json_body=payload,
        )
        return self._parse(ResponseResult, response, call)

    async def send_reminder(self, group_id: str, action_id: str) -> OperationResult:
        gid = segment(group_id, "group_id")
        aid = segment(action_id, "action_id")
        call, response = await self._platform(
            "POST",
            "groups/{groupId}/actions/{actionId}/reminder",
            f"groups/{gid}/actions/{aid}/reminder",
        )
        return self._parse(OperationResult, response, call)

    async def upload_media(self, filename: str, content: bytes, content_type: str) -> MediaResult:
        """Upload a file; the answer's `mediaResource` goes into Image/Announcement actions."""
        if not isinstance(filename, str) or not _FILENAME_PATTERN.fullmatch(filename):
            raise KaizalaValidationError("filename is malformed")
        if not re.fullmatch(r"[\w.+-]+/[\w.+-]+", content_type):
            raise KaizalaValidationError("content_type is malformed")
        files = {"FileName": (filename, bytes(content), content_type)}
        call, response = await self._platform("POST", "media", "media", files=files)
        return self._parse(MediaResult, response, call)

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
        return self._parse(ActionListPage, response, call)

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
        return self._parse(ActionDetails, response, call)

    # --- webhooks ----------------------------------------------------------------------------

    async def create_webhook(self, webhook: WebhookCreate) -> str:
        """Register a subscription; returns the webhookId. Kaizala validates the callback
        (GET with `validationToken`) before it answers, so the receiver must be up."""
        call, response = await self._platform(
            "POST",
            "webhook",
            "webhook",
            json_body=_dump(webhook),
            secrets=[webhook.callBackToken],
        )
        return self._parse(WebhookCreated, response, call).webhookId

    async def list_webhooks(self, object_id: str, object_type: ObjectType) -> list[Webhook]:
        segment(object_id, "object_id", OBJECT_ID_PATTERN)
        if object_type not in ("Group", "Action", "ActionPackage"):
            raise KaizalaValidationError("object_type must be Group, Action or ActionPackage")
        call, response = await self._platform(
            "GET",
            "webhook",
            "webhook",
            params={"objectId": object_id, "objectType": object_type},
        )
        return self._parse_list(Webhook, response, call, "webhooks")

    async def activate_webhook(self, webhook_id: str) -> None:
        """Re-enable a webhook that Kaizala disabled after failed deliveries."""
        wid = segment(webhook_id, "webhook_id")
        await self._platform(
            "PUT", "webhook/{webhookId}", f"webhook/{wid}", json_body=_dump(WebhookActivate())
        )

    async def delete_webhook(self, webhook_id: str) -> None:
        wid = segment(webhook_id, "webhook_id")
        await self._platform("DELETE", "webhook/{webhookId}", f"webhook/{wid}")

    # --- the request engine ------------------------------------------------------------------

    async def _service(
        self,
        method: str,
        rel_path: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        secrets: Sequence[str],
        local_secrets: tuple[str, ...] = (),
    ) -> tuple[_Call, httpx.Response]:
        call = _Call(method, rel_path, rel_path, self._secrets, local_secrets)
        call.learn(*secrets)
        call.url = f"{self._api_root}/{rel_path}"
        response = await self._execute(call, json_body=json_body, files=None, headers=headers)
        return call, response

    async def _platform(
        self,
        method: str,
        template: str,
        rel_path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        secrets: Sequence[str] = (),
    ) -> tuple[_Call, httpx.Response]:
        call = _Call(method, template, rel_path, self._secrets)
        call.learn(*secrets)
        token = await self._tokens.current()
        response = await self._execute(
            call, json_body=json_body, files=files, token=token, params=params
        )
        return call, response

    def _backoff(self, failures: int) -> float:
        # Full jitter: spreads the retries of many callers hit by the same outage.
        return self._jitter() * min(self._backoff_cap, self._backoff_base * 2.0 ** (failures - 1))

    async def _execute(
        self,
        call: _Call,
        *,
        json_body: Any,
        files: Mapping[str, tuple[str, bytes, str]] | None,
        token: AccessToken | None = None,
        headers: dict[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send `call` until it succeeds or a rule says stop; raise the typed error."""
        if token is not None:
            call.learn(token.value)
            call.url = platform_url(token.endpoint_url, call.rel_path)
        if params:
            # The query is fixed into the URL once, so a redirect's Location replaces it whole.
            call.url = str(httpx.URL(call.url, params=dict(params)))
        failures = rate_limited = redirects = 0
        refreshed = False
        status: int | str = "-"
        try:
            while True:
                endpoint_host = _host(token.endpoint_url) if token else _host(self._api_root)
                if not is_token_destination(call.url, self._allowed_hosts, endpoint_host):
                    raise KaizalaEndpointRefusedError(
                        "refusing to send credentials to this endpoint "
                        "(https on an allowed host required; http only on loopback)",
                        **call.error_kwargs(),
                    )
                send_headers = (
                    {AUTH_HEADER: token.value} if token is not None else dict(headers or {})
                )
                await self._limiter.acquire()
                call.attempts += 1
                try:
                    response = await self._send(call, send_headers, json_body, files)
                except httpx.RequestError as exc:
                    status = type(exc).__name__
                    retryable = isinstance(exc, _NOT_SENT) or call.method in _IDEMPOTENT
                    if retryable and failures + 1 < self._max_attempts:
                        failures += 1
                        await self._sleep(self._backoff(failures))
                        continue
                    detail = redact(str(exc)[:200], call.secrets())
                    # `from None`: the httpx error holds the request, headers and all.
                    raise KaizalaTransportError(
                        f"transport error: {type(exc).__name__}: {detail}", **call.error_kwargs()
                    ) from None
                status = response.status_code

                if 200 <= status < 300:
                    return response

                if status == 308 and response.headers.get("location"):
                    redirects += 1
                    target = urljoin(call.url, response.headers["location"])
                    if redirects > self._max_redirects:
                        raise KaizalaRedirectRefusedError(
                            f"more than {self._max_redirects} redirects",
                            status=status,
                            **call.error_kwargs(),
                        )
                    if not is_token_destination(target, self._allowed_hosts, endpoint_host):
                        raise KaizalaRedirectRefusedError(
                            f"308 to a host that is not allowed ({_host(target) or '?'}); "
                            "nothing was sent there",
                            status=status,
                            **call.error_kwargs(),
                        )
                    if token is not None:
                        new_base = base_from_location(target, call.rel_path)
                        if new_base is not None:
                            logger.info(
                                "kaizala endpoint moved to host %s (persisting)", _host(new_base)
                            )
                            token = await self._tokens.endpoint_moved(token, new_base)
                    call.url = target
                    continue

                if status == 401 and token is not None and not refreshed:
                    refreshed = True
                    old = token
                    token = await self._tokens.refresh(old)
                    call.learn(token.value)
                    if token.endpoint_url != old.endpoint_url:
                        call.url = platform_url(token.endpoint_url, call.rel_path)
                        if params:
                            call.url = str(httpx.URL(call.url, params=dict(params)))
                    continue

                if status == 429:
                    retry_after = parse_retry_after(
                        response.headers.get("retry-after"),
                        default=self._retry_after_default,
                        cap=self._retry_after_cap,
                    )
                    # Everyone waits, not just this caller: the budget is per connector.
                    self._limiter.pause_for(retry_after)
                    rate_limited += 1
                    logger.warning(
                        "kaizala throttled (429) on %s %s: pausing all calls for %.1fs",
                        call.method,
                        call.template,
                        retry_after,
                    )
                    if rate_limited < self._rate_limit_attempts:
                        continue
                    raise KaizalaRateLimitedError(
                        "Kaizala rate limit",
                        retry_after=retry_after,
                        status=status,
                        body_excerpt=response.text,
                        request_id=_request_id(response),
                        **call.error_kwargs(),
                    )

                if (
                    status >= 500
                    and call.method in _IDEMPOTENT
                    and failures + 1 < self._max_attempts
                ):
                    failures += 1
                    delay = self._backoff(failures)
                    if status == 503 and response.headers.get("retry-after"):
                        delay = parse_retry_after(
                            response.headers.get("retry-after"),
                            default=delay,
                            cap=self._retry_after_cap,
                        )
                    await self._sleep(delay)
                    continue

                raise self._status_error(response, call)
        finally:
            elapsed_ms = (time.perf_counter() - call.started) * 1000
            level = logging.INFO if isinstance(status, int) and status < 300 else logging.WARNING
            logger.log(
                level,
                "kaizala %s %s status=%s attempts=%d duration_ms=%.0f",
                call.method,
                call.template,
                status,
                call.attempts,
                elapsed_ms,
            )

    async def _send(
        self,
        call: _Call,
        headers: dict[str, str],
        json_body: Any,
        files: Mapping[str, tuple[str, bytes, str]] | None,
    ) -> httpx.Response:
        started = time.perf_counter()
        outcome: int | str = "error"
        try:
            if files is not None:
                response = await self._http.request(
                    call.method, call.url, headers=headers, files=dict(files)
                )
            else:
                response = await self._http.request(
                    call.method, call.url, headers=headers, json=json_body
                )
            outcome = response.status_code
            return response
        except httpx.RequestError as exc:
            outcome = type(exc).__name__
            raise
        finally:
            logger.debug(
                "kaizala attempt %s %s -> %s in %.0f ms (attempt %d)",
                call.method,
                call.template,
                outcome,
                (time.perf_counter() - started) * 1000,
                call.attempts,
            )

    def _status_error(self, response: httpx.Response, call: _Call) -> KaizalaError:
        status = response.status_code
        kwargs: dict[str, Any] = {
            "status": status,
            "body_excerpt": response.text,
            "request_id": _request_id(response),
            **call.error_kwargs(),
        }
        if status in (401, 403):
            return KaizalaAuthError("Kaizala refused the credentials", **kwargs)
        if status == 404:
            return KaizalaNotFoundError("Kaizala resource not found", **kwargs)
        if status >= 500:
            return KaizalaServerError("Kaizala server error", **kwargs)
        if 400 <= status < 500:
            return KaizalaBadRequestError("Kaizala refused the request", **kwargs)
        return KaizalaError("unexpected Kaizala status", **kwargs)

    # --- parsing ---------------------------------------------------------------------------

    def _json(self, response: httpx.Response, call: _Call) -> Any:
        if not response.content.strip():
            return {}
        try:
            return response.json()
        except ValueError:
            raise KaizalaError(
                "malformed response: not JSON",
                status=response.status_code,
                body_excerpt=response.text,
                request_id=_request_id(response),
                **call.error_kwargs(),
            ) from None

    def _shape_error(
        self, exc: PydanticValidationError, response: httpx.Response, call: _Call
    ) -> KaizalaError:
        # Locations and error types only: pydantic's own text would quote the (secret) input.
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['type']}"
            for e in exc.errors(include_input=False, include_url=False)[:5]
        )
        return KaizalaError(
            f"malformed response: {fields}",
            status=response.status_code,
            body_excerpt=response.text,
            request_id=_request_id(response),
            **call.error_kwargs(),
        )

    def _parse(self, model: type[M], response: httpx.Response, call: _Call) -> M:
        data = self._json(response, call)
        try:
            return model.model_validate(data)
        except PydanticValidationError as exc:
            raise self._shape_error(exc, response, call) from None

    def _parse_list(
        self, model: type[M], response: httpx.Response, call: _Call, key: str
    ) -> list[M]:
        """A list answer, given bare (`[...]`) or wrapped (`{"<key>": [...]}`)."""
        data = self._json(response, call)
        if isinstance(data, dict) and not data:
            data = []
        elif isinstance(data, dict) and isinstance(data.get(key), list):
            data = data[key]
        try:
            return TypeAdapter(list[model]).validate_python(data)  # type: ignore[valid-type]
        except PydanticValidationError as exc:
            raise self._shape_error(exc, response, call) from None


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)
