"""Groups, members, sub-groups and public-group subscribers."""

from __future__ import annotations

from devtools.kaizala_sim import SAMPLE_APPLICATION_ID, SAMPLE_GROUP_ID, SAMPLE_MEMBERS
from tests.kaizala_sim.conftest import Sim

G = f"groups/{SAMPLE_GROUP_ID}"
# FetchGroupDetails requires the connector's applicationId header beside the token.
APP = {"applicationId": SAMPLE_APPLICATION_ID}


def new_group(name: str, members: list[str], group_type: str = "Group") -> dict[str, object]:
    """A CreateGroup body: the swagger requires all four fields."""
    return {"name": name, "welcomeMessage": "", "members": members, "groupType": group_type}


def test_seeded_group_and_members(sim: Sim) -> None:
    group = sim.ok("GET", G, headers=APP)["groups"][0]
    assert group["groupName"] == "Sales Team"
    assert group["currentLevelUserCount"] == 4
    members = sim.ok("GET", f"{G}/members")["members"]
    assert [(m["mobileNumber"], m["name"]) for m in members] == [
        (mobile, name) for mobile, name, _ in SAMPLE_MEMBERS
    ]
    assert [m["role"] for m in members] == ["Admin", "Member", "Member", "Member"]


def test_unknown_group_is_404_and_non_member_is_403(sim: Sim) -> None:
    unknown = sim.api("GET", "groups/8c291050-0000-0000-0000-000000000000", headers=APP)
    assert unknown.status_code == 404
    outsider = "+919199999999"
    response = sim.api("GET", G, as_user=outsider, headers=APP)
    assert response.status_code == 403
    assert sim.ok("GET", "groups", as_user=outsider) == {"groups": []}


def test_create_group_with_members_and_limit(sim: Sim) -> None:
    created = sim.ok(
        "POST",
        "groups",
        json={
            "name": "Field Team",
            "welcomeMessage": "hi",
            "members": ["+919100000002", "+919100000099"],
            "groupType": "Group",
        },
    )
    assert created["groupName"] == "Field Team"
    assert created["membersAdded"] is True
    members = sim.ok("GET", f"groups/{created['groupId']}/members")["members"]
    assert {m["mobileNumber"] for m in members} == {
        "+919100000001",
        "+919100000002",
        "+919100000099",
    }

    too_many = [f"+9191000{i:05d}" for i in range(101)]
    response = sim.api("POST", "groups", json=new_group("Big", too_many))
    assert response.status_code == 400
    bad_type = sim.api("POST", "groups", json=new_group("X", [], "Channel"))
    assert bad_type.status_code == 400
    no_name = {**new_group("", []), "name": None}
    assert sim.api("POST", "groups", json=no_name).status_code == 400


def test_add_and_remove_members(sim: Sim) -> None:
    assert sim.ok("PUT", f"{G}/members", json={"members": ["+919100000005"]}) == {"result": True}
    members = {m["mobileNumber"]: m for m in sim.ok("GET", f"{G}/members")["members"]}
    new_id = members["+919100000005"]["id"]
    assert sim.ok("DELETE", f"{G}/members/{new_id}") == {"result": True}
    assert sim.api("DELETE", f"{G}/members/{new_id}").status_code == 404
    # Only admins manage members.
    assert (
        sim.api(
            "PUT", f"{G}/members", json={"members": ["+919100000006"]}, as_user="+919100000002"
        ).status_code
        == 403
    )


def test_subgroups(sim: Sim) -> None:
    created = sim.ok("POST", f"{G}/subgroups", json=new_group("North", []))
    child = created["groupId"]
    listed = sim.ok("GET", f"{G}/subGroups")
    assert listed["hasSubGroups"] is True
    assert [s["groupId"] for s in listed["subGroups"]] == [child]

    other = sim.ok("POST", "groups", json=new_group("South", []))["groupId"]
    added = sim.ok("PUT", f"{G}/subGroups", json={"subGroups": [other, child]})
    flags = {s["groupId"]: s["isDuplicate"] for s in added["subGroups"]}
    assert flags == {child: True, other: False}
    # A group cannot become a sub-group of its own descendant.
    assert (
        sim.api(
            "PUT", f"groups/{child}/subGroups", json={"subGroups": [SAMPLE_GROUP_ID]}
        ).status_code
        == 400
    )

    assert sim.ok("DELETE", f"{G}/subGroups/{other}") == {"result": True}
    assert sim.api("DELETE", f"{G}/subGroups/{other}").status_code == 404
    assert [s["groupId"] for s in sim.ok("GET", f"{G}/subGroups")["subGroups"]] == [child]


def test_public_group_subscribers(sim: Sim) -> None:
    hub = sim.ok("POST", "groups", json=new_group("Hub", [], "ConnectGroup"))
    path = f"groups/{hub['groupId']}/subscribers"
    numbers = [f"+9191000100{i:02d}" for i in range(3)]
    added = sim.ok("PUT", f"{path}/add", json={"subscribers": numbers})
    assert added == {"result": {n: {"isAdded": True} for n in numbers}}
    page = sim.ok("POST", path, json={"count": 2, "cursor": ""})
    assert [s["mobileNumber"] for s in page["subscribers"]] == numbers[:2]
    rest = sim.ok("POST", path, json={"count": 2, "cursor": page["cursor"]})
    assert [s["mobileNumber"] for s in rest["subscribers"]] == numbers[2:]
    assert "cursor" not in rest
    removed = sim.ok("PUT", f"{path}/remove", json={"subscribers": [numbers[0], "+919100099999"]})
    assert removed == {
        "result": {numbers[0]: {"isRemoved": True}, "+919100099999": {"isRemoved": False}}
    }
    message = sim.api(
        "POST",
        f"groups/{hub['groupId']}/messages",
        json={"Message": "hello", "subscribers": [numbers[1]], "sendToAllSubscribers": False},
    )
    assert message.status_code == 200
    # Subscriber calls on an ordinary group are refused.
    query = {"count": 10, "cursor": ""}
    assert sim.api("POST", f"{G}/subscribers", json=query).status_code == 400
