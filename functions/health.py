"""GET /api/health (anonymous): dependency checks, 503 naming the failed check."""

from __future__ import annotations

import azure.functions as func

from functions.http import handle_errors, json_response
from shared.runtime import get_runtime
from shared.services.health import check_health

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@handle_errors
async def health(req: func.HttpRequest) -> func.HttpResponse:
    rt = get_runtime()
    report = await check_health(rt.tables.ping, rt.tokens.status)
    return json_response(report.body(), status=200 if report.ok else 503)
