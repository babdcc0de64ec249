"""The pure rules of groups: mobile numbers, identities, batches, and the two settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.config import Settings
from shared.domain.groups import (
    AddMembersRequest,
    CreateGroupRequest,
    batches,
    group_key,
    mobile_problem,
    normalize_mobile,
)
from shared.errors import ConfigError

BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+919100000001", "+919100000001"),
        ("+91 91000 00001", "+919100000001"),
        ("+1 (425) 555-0100", "+14255550100"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+44.20.7946.0958", "+442079460958"),
        ("9100000001", None),  # no country code
        ("09100000001", None),
        ("+0123456789", None),  # no country code starts with 0
        ("+91 9100 ext 1", None),
        ("+1234567890123456", None),  # longer than E.164 allows
        ("", None),
        (None, None),
        (919100000001, None),
    ],
)
def test_normalize_mobile(raw: object, expected: str | None) -> None:
    assert normalize_mobile(raw) == expected


def test_mobile_problem_never_contains_the_number() -> None:
    assert mobile_problem(None) == "no mobile number"
    assert mobile_problem("  ") == "no mobile number"
    reason = mobile_problem("98450 12345")
    assert "98450" not in reason and "international" in reason


def test_requests_keep_e164_and_refuse_the_rest() -> None:
    req = CreateGroupRequest.model_validate(
        {"name": " Deal\nteam ", "members": [{"mobileNumber": "+91 91000 00002"}] * 2}
    )
    assert req.name == "Deal team"
    assert req.numbers() == ["+919100000002"]  # duplicates count once
    with pytest.raises(ValidationError) as err:
        AddMembersRequest.model_validate({"members": [{"mobileNumber": "9100000002"}]})
    assert err.value.errors()[0]["loc"] == ("members", 0, "mobileNumber")
    with pytest.raises(ValidationError):
        AddMembersRequest.model_validate({"members": []})
    with pytest.raises(ValidationError):
        CreateGroupRequest.model_validate({"name": "x", "members": [], "groupType": "Public"})
    with pytest.raises(ValidationError):
        CreateGroupRequest.model_validate(
            {"name": "x", "members": [], "regarding": {"entityType": "account", "id": "x"}}
        )


def test_group_identity() -> None:
    opp = "B5E7C3A0-3F1D-4C2B-9A8E-7D6F5E4C3B2A"
    plain = CreateGroupRequest.model_validate({"name": "x", "members": []})
    for_opp = CreateGroupRequest.model_validate(
        {"name": "x", "members": [], "regarding": {"id": opp}}
    )
    assert group_key(plain, "k-1")[0] == "key:k-1"
    assert group_key(for_opp, "k-1")[0] == "key:k-1"
    assert group_key(for_opp, None)[0] == f"regarding:opportunity:{opp.lower()}"
    key, rhash, explicit = group_key(plain, None)
    assert (key, explicit) == (f"content:{rhash}", False)
    assert group_key(for_opp, None)[2] is True


def test_batches_follow_the_documented_limit() -> None:
    numbers = [str(i) for i in range(250)]
    assert [len(b) for b in batches(numbers)] == [100, 100, 50]
    assert batches([]) == []


def test_group_settings() -> None:
    s = Settings.from_env(BASE)
    assert (s.opportunity_group_mode, s.opportunity_group_extra_members) == ("shared", ())
    s = Settings.from_env(
        {
            **BASE,
            "OPPORTUNITY_GROUP_MODE": "per-opportunity",
            "OPPORTUNITY_GROUP_EXTRA_MEMBERS": "+919100000007, +14255550100",
        }
    )
    assert s.opportunity_group_mode == "per-opportunity"
    assert s.opportunity_group_extra_members == ("+919100000007", "+14255550100")
    with pytest.raises(ConfigError) as err:
        Settings.from_env({**BASE, "OPPORTUNITY_GROUP_MODE": "per-group"})
    assert err.value.setting == "OPPORTUNITY_GROUP_MODE"
    with pytest.raises(ConfigError) as err:
        Settings.from_env({**BASE, "OPPORTUNITY_GROUP_EXTRA_MEMBERS": "+919100000007,9845012345"})
    assert err.value.setting == "OPPORTUNITY_GROUP_EXTRA_MEMBERS"
    assert "9845012345" not in err.value.detail
