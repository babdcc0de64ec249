"""GET /api/health (anonymous): dependency checks, 503 naming the failed check."""

from __future__ import annotations

import azure.functions as func

from functions.http import handle_errors, json_response
from shared.health import check_health
from shared.runtime import get_runtime

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@handle_errors
async def health(req: func.HttpRequest) -> func.HttpResponse:
    report = await check_health(get_runtime())
    return json_response(report.body(), status=200 if report.ok else 503)
