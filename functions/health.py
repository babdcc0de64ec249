"""GET /api/health (anonymous): ok/warn/fail only, 503 on fail. GET /api/manage/health (admin):
the same checks with their details (token expiry and rotation dates), 503 on fail."""

from __future__ import annotations

import azure.functions as func

from functions.http import handle_errors, json_response
from shared.runtime import get_runtime
from shared.services.health import HealthReport, check_health

bp = func.Blueprint()


async def _report() -> HealthReport:
    rt = get_runtime()
    return await check_health(rt.tables.ping, rt.tokens.status)


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@handle_errors
async def health(req: func.HttpRequest) -> func.HttpResponse:
    report = await _report()
    return json_response(report.summary(), status=200 if report.ok else 503)


@bp.route(route="manage/health", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@handle_errors
async def manage_health(req: func.HttpRequest) -> func.HttpResponse:
    report = await _report()
    return json_response(report.body(), status=200 if report.ok else 503)
