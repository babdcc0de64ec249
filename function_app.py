"""The Functions app: created here, one Blueprint registered per module in functions/."""

import azure.functions as func

from shared import telemetry

# First, so the SDKs the triggers load are instrumented; a no-op without a connection string.
telemetry.configure()

from functions import (  # noqa: E402
    actions,
    backfill,
    console,
    flow_subscriptions,
    groups,
    health,
    manage,
    media,
    reminders,
    subscriptions,
    tokens,
    webhooks,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(health.bp)
app.register_functions(tokens.bp)
app.register_functions(actions.bp)
app.register_functions(subscriptions.bp)
app.register_functions(webhooks.bp)
app.register_functions(backfill.bp)
app.register_functions(reminders.bp)
app.register_functions(media.bp)
app.register_functions(groups.bp)
app.register_functions(console.bp)
app.register_functions(manage.bp)
app.register_functions(flow_subscriptions.bp)  # issue 12: connector
