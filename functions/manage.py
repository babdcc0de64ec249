"""The operator console's JSON (ADMIN): GET /api/manage/actions, inbox, connector, webhooks.

Read-only; the console page and scripts both use them. Replay and resync are the existing
POST /api/manage/inbox/replay and POST /api/manage/webhooks/sync.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

from functions.http import handle_errors, json_response
from shared.runtime import get_runtime
from shared.services import console

bp = func.Blueprint()

NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _answer(body: Any) -> func.HttpResponse:
    return json_response(body, headers=NO_STORE)


@bp.route(route="manage/actions", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@handle_errors
async def manage_actions(req: func.HttpRequest) -> func.HttpResponse:
    status = console.parse_status(req.params.get("status"))
    limit = console.parse_limit(req.params.get("limit"))
    page = await console.list_actions(
        get_runtime().console, status, limit, req.params.get("continuation")
    )
    return _answer(page)


@bp.route(route="manage/inbox", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@handle_errors
async def manage_inbox(req: func.HttpRequest) -> func.HttpResponse:
    return _answer(await console.inbox_overview(get_runtime().console))


@bp.route(route="manage/connector", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@handle_errors
async def manage_connector(req: func.HttpRequest) -> func.HttpResponse:
    return _answer(await console.connector_status(get_runtime().console))


@bp.route(route="manage/webhooks", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@handle_errors
async def manage_webhooks(req: func.HttpRequest) -> func.HttpResponse:
    return _answer(await console.webhooks_overview(get_runtime().console))
