"""Settings: read once from the environment into a frozen object.

Every setting is declared once in `shared.settings_spec.SETTINGS` (re-exported here); this
module reads them, checks them and fails fast naming the setting, never echoing its value.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from shared.errors import ConfigError
from shared.settings_spec import SETTINGS, SettingSpec

__all__ = ["SETTINGS", "SettingSpec", "Settings", "StorageSettings", "get_settings"]


_SPEC_BY_NAME = {s.name: s for s in SETTINGS}
SETTING_DEFAULTS: Mapping[str, str] = {s.name: s.default for s in SETTINGS if s.default is not None}
SECRET_SETTINGS = frozenset(s.name for s in SETTINGS if s.secret)

_TABLE_PREFIX_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,19}$")
_GROUP_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
# A whole upload is held in memory by the Functions host (which caps a request at 100 MB).
MEDIA_MAX_BYTES_CEILING = 50 * 1024 * 1024
# E.164, as `shared.domain.groups` requires of a member (the base may not import the domain).
_E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class StorageSettings:
    connection_string: str | None
    table_service_uri: str | None
    client_id: str | None

    def describe(self) -> str:
        """A log-safe description (never the connection string: it holds the account key)."""
        if self.connection_string:
            return "connection string"
        return f"managed identity at {self.table_service_uri}"


@dataclass(frozen=True)
class Settings:
    storage: StorageSettings
    table_prefix: str
    kaizala_api_root: str
    kaizala_allowed_hosts: tuple[str, ...]
    kaizala_calls_per_minute: int
    kaizala_throttle_window_seconds: float
    kaizala_renew_schedule: str
    kaizala_application_id: str | None
    kaizala_application_secret: str | None = field(repr=False)
    kaizala_refresh_token: str | None = field(repr=False)
    key_vault_url: str | None
    local_secrets_path: str
    callback_token_grace_hours: float
    opportunity_survey_template: str
    opportunity_survey_group_id: str | None
    kaizala_webhook_groups: tuple[str, ...]
    webhook_callback_url: str | None
    dataverse_url: str | None
    dataverse_static_token: str | None = field(repr=False)
    dataverse_activity_set: str
    response_forward_url: str | None = field(repr=False)
    retention_days: int
    inbox_max_attempts: int
    # issue 10: backfill
    backfill_schedule: str
    backfill_days: int
    # issue 10: reminders and media
    reminder_min_hours: int
    media_max_bytes: int
    # issue 10: groups
    opportunity_group_mode: str = "shared"
    opportunity_group_extra_members: tuple[str, ...] = ()
    # issue 12: drain
    dataverse_circuit_failures: int = 5
    dataverse_circuit_open_seconds: int = 5
    inbox_drain_concurrency: int = 16
    dataverse_requests_per_5_minutes: int = 5400

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        r = _Reader(env)
        settings = cls(
            storage=_storage(r),
            table_prefix=r.text("TABLE_NAME_PREFIX", pattern=_TABLE_PREFIX_RE),
            kaizala_api_root=r.url("KAIZALA_API_ROOT", https_unless_loopback=True).rstrip("/"),
            kaizala_allowed_hosts=r.csv("KAIZALA_ALLOWED_HOSTS"),
            kaizala_calls_per_minute=r.integer("KAIZALA_CALLS_PER_MINUTE", 1, 100),
            kaizala_throttle_window_seconds=r.number("KAIZALA_THROTTLE_WINDOW_SECONDS", 0.1, 3600),
            kaizala_renew_schedule=r.text("KAIZALA_RENEW_SCHEDULE"),
            kaizala_application_id=r.optional("KAIZALA_APPLICATION_ID"),
            kaizala_application_secret=r.optional("KAIZALA_APPLICATION_SECRET"),
            kaizala_refresh_token=r.optional("KAIZALA_REFRESH_TOKEN"),
            key_vault_url=r.optional_url("KEY_VAULT_URL", https_unless_loopback=True),
            local_secrets_path=r.text("LOCAL_SECRETS_PATH"),
            callback_token_grace_hours=r.number("CALLBACK_TOKEN_GRACE_HOURS", 0, 24 * 30),
            opportunity_survey_template=r.text(
                "OPPORTUNITY_SURVEY_TEMPLATE", pattern=re.compile(r"^[A-Za-z0-9_-]{1,64}$")
            ),
            opportunity_survey_group_id=r.optional("OPPORTUNITY_SURVEY_GROUP_ID", _GROUP_ID_RE),
            kaizala_webhook_groups=(),
            webhook_callback_url=r.optional_url("WEBHOOK_CALLBACK_URL", https_unless_loopback=True),
            dataverse_url=_dataverse_url(r),
            dataverse_static_token=r.optional("DATAVERSE_STATIC_TOKEN"),
            dataverse_activity_set=r.text(
                "DATAVERSE_ACTIVITY_SET", pattern=re.compile(r"^(tasks|phonecalls)$")
            ),
            response_forward_url=r.optional_url("RESPONSE_FORWARD_URL", https_unless_loopback=True),
            retention_days=r.integer("RETENTION_DAYS", 3, 3650),
            inbox_max_attempts=r.integer("INBOX_MAX_ATTEMPTS", 1, 100),
            # issue 10: backfill
            backfill_schedule=r.text("BACKFILL_SCHEDULE"),
            backfill_days=r.integer("BACKFILL_DAYS", 1, 365),
            # issue 10: reminders and media
            reminder_min_hours=r.integer("REMINDER_MIN_HOURS", 1, 24 * 30),
            media_max_bytes=r.integer("MEDIA_MAX_BYTES", 1024, MEDIA_MAX_BYTES_CEILING),
            opportunity_group_mode=r.text(
                "OPPORTUNITY_GROUP_MODE", pattern=re.compile(r"^(shared|per-opportunity)$")
            ),
            opportunity_group_extra_members=r.csv(
                "OPPORTUNITY_GROUP_EXTRA_MEMBERS", pattern=_E164_RE
            ),
            # issue 12: drain
            dataverse_circuit_failures=r.integer("DATAVERSE_CIRCUIT_FAILURES", 1, 100),
            dataverse_circuit_open_seconds=r.integer("DATAVERSE_CIRCUIT_OPEN_SECONDS", 1, 3600),
            inbox_drain_concurrency=r.integer("INBOX_DRAIN_CONCURRENCY", 1, 52),
            dataverse_requests_per_5_minutes=r.integer(
                "DATAVERSE_REQUESTS_PER_5_MINUTES", 1, 1_000_000
            ),
        )
        groups = r.csv("KAIZALA_WEBHOOK_GROUPS", pattern=_GROUP_ID_RE)
        if not groups and settings.opportunity_survey_group_id:
            groups = (settings.opportunity_survey_group_id,)
        settings = _replace(settings, kaizala_webhook_groups=groups)
        if settings.dataverse_static_token and not (
            settings.dataverse_url and is_loopback_host(urlsplit(settings.dataverse_url).hostname)
        ):
            raise ConfigError(
                "DATAVERSE_STATIC_TOKEN",
                "is only allowed with a loopback DATAVERSE_URL (a local simulator)",
            )
        return settings

    def require(self, name: str) -> str:
        """The value of an optional setting that this operation needs; ConfigError if unset."""
        attr = name.lower()
        value = getattr(self, attr, None)
        if not value:
            raise ConfigError(name, "is required for this operation but is not set")
        return str(value)


def _replace(s: Settings, **changes: Any) -> Settings:
    from dataclasses import replace

    return replace(s, **changes)


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None or not value.strip():
            spec = _SPEC_BY_NAME.get(name)
            return spec.default if spec else None
        return value.strip()

    def text(self, name: str, pattern: re.Pattern[str] | None = None) -> str:
        value = self.raw(name)
        if value is None:
            raise ConfigError(name, "is required but not set")
        if pattern and not pattern.match(value):
            raise ConfigError(name, f"is malformed (expected {pattern.pattern})")
        return value

    def optional(self, name: str, pattern: re.Pattern[str] | None = None) -> str | None:
        value = self.raw(name)
        if value is not None and pattern and not pattern.match(value):
            raise ConfigError(name, f"is malformed (expected {pattern.pattern})")
        return value

    def integer(self, name: str, lo: int, hi: int) -> int:
        value = self.text(name)
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(name, "must be a whole number") from None
        if not lo <= number <= hi:
            raise ConfigError(name, f"must be between {lo} and {hi}")
        return number

    def number(self, name: str, lo: float, hi: float) -> float:
        value = self.text(name)
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(name, "must be a number") from None
        if not lo <= number <= hi:
            raise ConfigError(name, f"must be between {lo} and {hi}")
        return number

    def csv(self, name: str, pattern: re.Pattern[str] | None = None) -> tuple[str, ...]:
        value = self.raw(name) or ""
        items = tuple(part.strip() for part in value.split(",") if part.strip())
        for item in items:
            if pattern and not pattern.match(item):
                raise ConfigError(name, f"has a malformed entry (expected {pattern.pattern})")
        return items

    def url(self, name: str, https_unless_loopback: bool = False) -> str:
        value = self.text(name)
        _check_url(name, value, https_unless_loopback)
        return value

    def optional_url(self, name: str, https_unless_loopback: bool = False) -> str | None:
        value = self.raw(name)
        if value is not None:
            _check_url(name, value, https_unless_loopback)
        return value


def _check_url(name: str, value: str, https_unless_loopback: bool) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(name, "must be an absolute http(s) URL")
    if https_unless_loopback and parts.scheme != "https" and not is_loopback_host(parts.hostname):
        raise ConfigError(name, "must use https (plain http is allowed for loopback hosts only)")


def _dataverse_url(r: _Reader) -> str | None:
    value = r.optional_url("DATAVERSE_URL", https_unless_loopback=True)
    return value.rstrip("/") if value else None


def _storage(r: _Reader) -> StorageSettings:
    conn = r.optional("AzureWebJobsStorage")
    account = r.optional("AzureWebJobsStorage__accountName")
    table_uri = r.optional_url("AzureWebJobsStorage__tableServiceUri", https_unless_loopback=True)
    client_id = r.optional("AzureWebJobsStorage__clientId")
    if conn:
        if "=" not in conn:
            raise ConfigError("AzureWebJobsStorage", "is not a storage connection string")
        return StorageSettings(conn, None, client_id)
    if table_uri:
        return StorageSettings(None, table_uri.rstrip("/"), client_id)
    if account:
        if not re.fullmatch(r"[a-z0-9]{3,24}", account):
            raise ConfigError("AzureWebJobsStorage__accountName", "is not a storage account name")
        return StorageSettings(None, f"https://{account}.table.core.windows.net", client_id)
    raise ConfigError(
        "AzureWebJobsStorage",
        "is required (or AzureWebJobsStorage__accountName for managed identity)",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use (not at import, so tests can set env)."""
    return Settings.from_env()


def reset_settings() -> None:
    """Forget the cached settings (tests and the local host's reload only)."""
    get_settings.cache_clear()


SettingsFactory = Callable[[], Settings]
