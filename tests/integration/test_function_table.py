"""The product's functions, triggers, routes, methods and auth levels: a contract.

The local host, like Core Tools, does not enforce keys; this table is what keeps an endpoint
from silently becoming anonymous (or an admin endpoint from becoming function-level).
"""

from __future__ import annotations

from devtools.host import describe_functions, index_functions
from tests.support import functions_by_name

EXPECTED = {
    # name: (trigger, route or schedule, methods, auth level)
    "health": ("http", "api/health", ["GET"], "anonymous"),
    "kaizala_pin": ("http", "api/manage/kaizala/pin", ["POST"], "admin"),
    "kaizala_login": ("http", "api/manage/kaizala/login", ["POST"], "admin"),
    "renew_kaizala_token": ("timer", "%KAIZALA_RENEW_SCHEDULE%", [], None),
    "send_action": ("http", "api/actions", ["POST"], "function"),
    "get_action": ("http", "api/actions/{correlationId}", ["GET"], "function"),
    "dynamics_opportunities": ("http", "api/dynamics/opportunities", ["POST"], "function"),
    "drain_outbox": ("timer", "*/15 * * * * *", [], None),
    "sync_kaizala_webhooks": ("http", "api/manage/webhooks/sync", ["POST"], "admin"),
    "reconcile_webhooks": ("timer", "0 5 * * * *", [], None),
    "kaizala_webhook_validate": ("http", "api/kaizala/webhook", ["GET"], "anonymous"),
    "kaizala_webhook": ("http", "api/kaizala/webhook", ["POST"], "anonymous"),
    "process_inbox": ("timer", "*/10 * * * * *", [], None),
    "inbox_replay": ("http", "api/manage/inbox/replay", ["POST"], "admin"),
    "backfill_responses": ("timer", "%BACKFILL_SCHEDULE%", [], None),
    "backfill_action": ("http", "api/manage/actions/{correlationId}/backfill", ["POST"], "admin"),
    # issue 10: reminders and media
    "send_reminder": ("http", "api/actions/{correlationId}/reminder", ["POST"], "function"),
    "upload_media": ("http", "api/media", ["POST"], "function"),
    # issue 10: groups
    "create_group": ("http", "api/groups", ["POST"], "function"),
    "list_group_members": ("http", "api/groups/{groupId}/members", ["GET"], "function"),
    "add_group_members": ("http", "api/groups/{groupId}/members", ["PUT"], "function"),
    "remove_group_member": (
        "http",
        "api/groups/{groupId}/members/{memberId}",
        ["DELETE"],
        "function",
    ),
    # issue 12: deployment hardening (the anonymous health shows only ok/warn/fail)
    "manage_health": ("http", "api/manage/health", ["GET"], "admin"),
    # issue 12: console
    "console_page": ("http", "api/console", ["GET"], "admin"),
    "manage_actions": ("http", "api/manage/actions", ["GET"], "admin"),
    "manage_inbox": ("http", "api/manage/inbox", ["GET"], "admin"),
    "manage_connector": ("http", "api/manage/connector", ["GET"], "admin"),
    "manage_webhooks": ("http", "api/manage/webhooks", ["GET"], "admin"),
    # issue 12: connector (the Power Automate trigger's subscriptions)
    "subscribe_flow": ("http", "api/subscriptions", ["POST"], "function"),
    "unsubscribe_flow": ("http", "api/subscriptions/{subscriptionId}", ["DELETE"], "function"),
    "list_flow_subscriptions": ("http", "api/manage/subscriptions", ["GET"], "admin"),
    "deliver_flow_responses": ("timer", "*/15 * * * * *", [], None),
}


def test_function_table_matches_contract() -> None:
    rows = describe_functions(index_functions(functions_by_name().values()))
    actual = {}
    for row in rows:
        if row["trigger"] == "http":
            actual[row["name"]] = ("http", row["route"], row["methods"], row["auth_level"])
        else:
            actual[row["name"]] = (row["trigger"], row["schedule"], [], None)
    assert actual == EXPECTED
