"""The Functions app: created here, one Blueprint registered per module in functions/."""

import gc

# A fresh process's imports allocate some 10^5 long-lived objects (modules, classes, functions),
# and the cyclic GC would scan them over and over while they load: 5-15% of a new instance's
# first answer (bench/README.md, cold start). Collection is paused for these imports only (a
# failed import fails the whole app anyway).
_GC_WAS_ENABLED = gc.isenabled()
gc.disable()

from shared import telemetry  # noqa: E402

# Before the triggers, so the SDKs they load are instrumented; a no-op without a connection
# string (nothing of OpenTelemetry is imported then).
telemetry.configure()

import azure.functions as func  # noqa: E402

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

if _GC_WAS_ENABLED:
    gc.enable()

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
