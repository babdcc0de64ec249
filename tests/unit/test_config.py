from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.config import SETTINGS, Settings
from shared.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CONN = "UseDevelopmentStorage=true"


def make(**env: str) -> Settings:
    return Settings.from_env({"AzureWebJobsStorage": CONN, **env})


def test_defaults_apply() -> None:
    s = make()
    assert s.kaizala_api_root == "https://api.kaiza.la/v1"
    assert s.kaizala_calls_per_minute == 90
    assert s.kaizala_allowed_hosts == ("*.kaiza.la",)
    assert s.dataverse_activity_set == "tasks"
    assert s.retention_days == 30
    assert s.table_prefix == "kb"


def test_settings_are_frozen() -> None:
    s = make()
    with pytest.raises(AttributeError):
        s.table_prefix = "x"  # type: ignore[misc]


def test_missing_storage_names_the_setting() -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({})
    assert err.value.setting == "AzureWebJobsStorage"
    assert "AzureWebJobsStorage" in str(err.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KAIZALA_CALLS_PER_MINUTE", "lots"),
        ("KAIZALA_CALLS_PER_MINUTE", "101"),
        ("KAIZALA_API_ROOT", "http://api.kaiza.la/v1"),
        ("KAIZALA_API_ROOT", "not a url"),
        ("TABLE_NAME_PREFIX", "9bad"),
        ("DATAVERSE_ACTIVITY_SET", "emails"),
        ("OPPORTUNITY_SURVEY_GROUP_ID", "../groups"),
        ("KAIZALA_WEBHOOK_GROUPS", "ok-1,bad/2"),
        ("RETENTION_DAYS", "1"),
        ("AzureWebJobsStorage__accountName", "Not_An_Account"),
    ],
)
def test_malformed_setting_is_named(name: str, value: str) -> None:
    env = {name: value}
    if name.startswith("AzureWebJobsStorage__"):
        with pytest.raises(ConfigError) as err:
            Settings.from_env(env)
    else:
        with pytest.raises(ConfigError) as err:
            make(**env)
    assert err.value.setting == name
    assert value not in str(err.value)  # values may be secrets: never echoed


def test_http_allowed_for_loopback_only() -> None:
    assert make(KAIZALA_API_ROOT="http://127.0.0.1:9000/v1").kaizala_api_root.startswith("http:")


def test_static_dataverse_token_needs_loopback_url() -> None:
    ok = make(DATAVERSE_URL="http://127.0.0.1:7082", DATAVERSE_STATIC_TOKEN="dev-token-123")
    assert ok.dataverse_static_token == "dev-token-123"
    with pytest.raises(ConfigError) as err:
        make(DATAVERSE_URL="https://org.crm.dynamics.com", DATAVERSE_STATIC_TOKEN="dev-token-123")
    assert err.value.setting == "DATAVERSE_STATIC_TOKEN"


def test_managed_identity_storage() -> None:
    s = Settings.from_env({"AzureWebJobsStorage__accountName": "kbstore01"})
    assert s.storage.connection_string is None
    assert s.storage.table_service_uri == "https://kbstore01.table.core.windows.net"
    assert "AccountKey" not in s.storage.describe()


def test_webhook_groups_default_to_survey_group() -> None:
    s = make(OPPORTUNITY_SURVEY_GROUP_ID="group-1")
    assert s.kaizala_webhook_groups == ("group-1",)
    s = make(OPPORTUNITY_SURVEY_GROUP_ID="group-1", KAIZALA_WEBHOOK_GROUPS="g2, g3")
    assert s.kaizala_webhook_groups == ("g2", "g3")


def test_secrets_not_in_repr() -> None:
    s = make(KAIZALA_APPLICATION_SECRET="very-secret-value", KAIZALA_REFRESH_TOKEN="rt-secret-val")
    assert "very-secret-value" not in repr(s)
    assert "rt-secret-val" not in repr(s)
    assert CONN not in s.storage.describe()


def test_readme_settings_table_matches_code() -> None:
    """The README's settings reference lists exactly SETTINGS, with the same defaults."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"^\|\s*`([^`]+)`\s*\|(.*)\|\s*(.*?)\s*\|\s*$", line)
        if m:
            rows[m.group(1)] = m.group(3).strip("` ")
    expected = {s.name: (s.default or "") for s in SETTINGS}
    documented = {
        name: ("" if default in ("", "—", "-") else default) for name, default in rows.items()
    }
    assert documented == expected
