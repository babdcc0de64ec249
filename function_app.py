"""The Functions app: created here, one Blueprint registered per module in functions/."""

import azure.functions as func

from functions import (
    actions,
    backfill,
    flow_subscriptions,
    groups,
    health,
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
app.register_functions(flow_subscriptions.bp)  # issue 12: connector
