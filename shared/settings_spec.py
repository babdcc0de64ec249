"""Every setting of the bridge, declared once: name, meaning, default, required, secret.

The names are the Azure app settings (and `local.settings.json` `Values`). The README's
settings table and the infra's app settings are checked against `SETTINGS` by tests, so code,
docs and deployment cannot drift apart. `shared.config` reads them into a frozen object.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SettingSpec:
    name: str
    meaning: str
    default: str | None  # None: no default (required, or optional when `required` is False)
    required: bool = False
    secret: bool = False  # never logged or shown


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "AzureWebJobsStorage",
        "Storage connection string (`UseDevelopmentStorage=true` for Azurite). In Azure, leave it "
        "unset and use the `AzureWebJobsStorage__accountName` identity-based settings instead.",
        None,
        secret=True,
    ),
    SettingSpec(
        "AzureWebJobsStorage__accountName",
        "Storage account name for identity-based access (managed identity, no keys).",
        None,
    ),
    SettingSpec(
        "AzureWebJobsStorage__tableServiceUri",
        "Table endpoint for identity-based access; derived from the account name when unset.",
        None,
    ),
    SettingSpec(
        "AzureWebJobsStorage__clientId",
        "Client id of the user-assigned managed identity used for storage (and Key Vault, "
        "Dataverse) in Azure.",
        None,
    ),
    SettingSpec(
        "TABLE_NAME_PREFIX",
        "Prefix of every table the bridge creates (letters and digits, starts with a letter).",
        "kb",
    ),
    SettingSpec("KAIZALA_API_ROOT", "Kaizala token service root.", "https://api.kaiza.la/v1"),
    SettingSpec(
        "KAIZALA_ALLOWED_HOSTS",
        "Comma-separated host patterns the access token may be sent to (https only; the current "
        "endpoint host is always allowed; plain http only for loopback hosts).",
        "*.kaiza.la",
    ),
    SettingSpec(
        "KAIZALA_CALLS_PER_MINUTE",
        "Kaizala call budget per throttle window, shared by all instances (documented limit: 100).",
        "90",
    ),
    SettingSpec(
        "KAIZALA_THROTTLE_WINDOW_SECONDS",
        "Length of the throttle window in seconds (Kaizala's is 60; shorter only for tests).",
        "60",
    ),
    SettingSpec(
        "KAIZALA_RENEW_SCHEDULE",
        "NCRONTAB schedule of the `renew_kaizala_token` timer (six fields, seconds first).",
        "0 0 * * * *",
    ),
    SettingSpec(
        "KAIZALA_APPLICATION_ID",
        "Connector application id; seeds the secret store once when set.",
        None,
    ),
    SettingSpec(
        "KAIZALA_APPLICATION_SECRET",
        "Connector application secret; seeds the secret store once when set.",
        None,
        secret=True,
    ),
    SettingSpec(
        "KAIZALA_REFRESH_TOKEN",
        "A refresh token issued in the Kaizala portal; seeds the secret store once when set.",
        None,
        secret=True,
    ),
    SettingSpec(
        "KEY_VAULT_URL",
        "Key Vault URI (`https://<name>.vault.azure.net/`). When set, secrets live there; "
        "otherwise in the local JSON file.",
        None,
    ),
    SettingSpec(
        "LOCAL_SECRETS_PATH",
        "Local secret store (JSON, mode 0600) used when `KEY_VAULT_URL` is unset.",
        ".local/secrets.json",
    ),
    SettingSpec(
        "CALLBACK_TOKEN_GRACE_HOURS",
        "Hours a replaced callback token is still accepted after a rotation.",
        "48",
    ),
    SettingSpec(
        "OPPORTUNITY_SURVEY_TEMPLATE",
        "Template sent for each new opportunity (a file name in `templates/`, without `.json`).",
        "opportunity-survey",
    ),
    SettingSpec(
        "OPPORTUNITY_SURVEY_GROUP_ID",
        "Kaizala group that receives the opportunity survey.",
        None,
    ),
    SettingSpec(
        "KAIZALA_WEBHOOK_GROUPS",
        "Comma-separated Kaizala group ids to keep webhook subscriptions on "
        "(default: the survey group).",
        None,
    ),
    SettingSpec(
        "WEBHOOK_CALLBACK_URL",
        "Public URL of `/api/kaizala/webhook` that Kaizala calls back.",
        None,
    ),
    SettingSpec(
        "DATAVERSE_URL",
        "Dataverse environment URL, e.g. `https://contoso.crm.dynamics.com`.",
        None,
    ),
    SettingSpec(
        "DATAVERSE_STATIC_TOKEN",
        "Fixed bearer token for a local Dataverse simulator; refused unless `DATAVERSE_URL` "
        "is a loopback URL.",
        None,
        secret=True,
    ),
    SettingSpec(
        "DATAVERSE_ACTIVITY_SET",
        "Activity entity set the responses are written to (`tasks` or `phonecalls`).",
        "tasks",
    ),
    SettingSpec(
        "RESPONSE_FORWARD_URL",
        "Optional second sink: normalised responses are POSTed here (e.g. a Power Automate "
        "HTTP-request trigger), as the trigger subscription `static` (durable, retried).",
        None,
        secret=True,  # Power Automate trigger URLs carry a signature
    ),
    SettingSpec(
        "RETENTION_DAYS",
        "Days inbox and correlation rows are kept (queued or in-flight actions are never dropped).",
        "30",
    ),
    SettingSpec(
        "INBOX_MAX_ATTEMPTS",
        "Attempts at writing an event to Dynamics before it is marked dead.",
        "8",
    ),
    # issue 10: backfill
    SettingSpec(
        "BACKFILL_SCHEDULE",
        "NCRONTAB schedule of the `backfill_responses` timer (six fields, seconds first).",
        "0 35 * * * *",
    ),
    SettingSpec(
        "BACKFILL_DAYS",
        "Days after its send that an action's responses are read again from Kaizala by the "
        "backfill (never past the action's due date plus a day).",
        "7",
    ),
    # issue 10: reminders and media
    SettingSpec(
        "REMINDER_MIN_HOURS",
        "Hours between two Kaizala reminders of the same action "
        "(`POST /api/actions/{correlationId}/reminder`); a repeat inside them sends nothing.",
        "12",
    ),
    SettingSpec(
        "MEDIA_MAX_BYTES",
        "Largest file `POST /api/media` accepts, in bytes (Kaizala documents no limit; "
        "at most 52428800).",
        "10485760",
    ),
    # issue 10: groups
    SettingSpec(
        "OPPORTUNITY_GROUP_MODE",
        "Where a new opportunity's survey goes: `shared` (the group "
        "`OPPORTUNITY_SURVEY_GROUP_ID`) or `per-opportunity` (a new group named after the "
        "opportunity, with its owner and contact from Dataverse as members).",
        "shared",
    ),
    SettingSpec(
        "OPPORTUNITY_GROUP_EXTRA_MEMBERS",
        "Comma-separated mobile numbers (E.164, e.g. `+919100000001`) added to every group "
        "created per opportunity.",
        None,
    ),
    # issue 12: telemetry
    SettingSpec(
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "Application Insights connection string. When set, the app exports its traces and "
        'metrics there (the Azure Monitor OpenTelemetry distro, README "Telemetry"); unset, '
        "nothing of OpenTelemetry is loaded.",
        None,
    ),
    # issue 12: drain (issue 11's backlog part)
    SettingSpec(
        "DATAVERSE_CIRCUIT_FAILURES",
        "Consecutive transient Dataverse failures (5xx, timeouts, connection errors) that open "
        "the circuit: the webhook then stores events without calling Dataverse and the "
        "`process_inbox` sweep owns the retries (a 429 opens it at once).",
        "5",
    ),
    SettingSpec(
        "DATAVERSE_CIRCUIT_OPEN_SECONDS",
        "Seconds the Dataverse circuit stays open before one probe call (a 429's longer "
        "Retry-After is honoured whole).",
        "5",
    ),
    SettingSpec(
        "INBOX_DRAIN_CONCURRENCY",
        "Events the `process_inbox` sweep writes to Dataverse at once (1-52: Dataverse allows "
        "52 concurrent requests per user).",
        "16",
    ),
    SettingSpec(
        "DATAVERSE_REQUESTS_PER_5_MINUTES",
        "Dataverse requests one instance sends in any 5 minutes (Dataverse's service protection "
        "allows 6,000 per user per web server; the default keeps 10 % for other tools). When "
        "the window is full the webhook stores events without an inline attempt and the sweep "
        "waits for room.",
        "5400",
    ),
)
