"""Control API, what the simulator saw: its state, the call log and the statistics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from devtools.kaizala_sim import views
from devtools.kaizala_sim.errors import bad_request
from devtools.kaizala_sim.platform_common import base_url, sim_of


async def get_state(request: Request) -> JSONResponse:
    sim = sim_of(request)
    state = sim.state
    now = sim.now()
    groups = []
    for g in state.groups.values():
        groups.append(
            {
                **views.group_summary(state, g),
                "members": views.members_view(state, g)["members"],
                "subGroups": list(g.subgroups),
                "parentGroups": list(g.parents),
                "subscribers": [s.mobile for s in g.subscribers.values()],
                "messages": [
                    {"referenceId": m.reference_id, "sender": m.sender, "text": m.text}
                    for m in g.messages
                ],
            }
        )
    return JSONResponse(
        {
            "endpoint": {
                "name": state.endpoint_name,
                "url": f"{base_url(request)}ep/{state.endpoint_name}/",
                "history": list(state.endpoint_names),
            },
            "connectors": [
                {"applicationId": c.application_id, "name": c.name, "tenantId": c.tenant_id}
                for c in state.connectors.values()
            ],
            "users": [
                {
                    "mobileNumber": u.mobile,
                    "userId": u.user_id,
                    "name": u.name,
                    "isProvisioned": u.provisioned,
                }
                for u in state.users.values()
            ],
            "groups": groups,
            "actions": [
                {
                    **views.action_details(state, a, with_responses=True),
                    "body": a.body,
                    "reminders": a.reminders,
                }
                for a in state.actions.values()
            ],
            "webhooks": [
                {
                    **views.webhook_view(h),
                    "callBackContext": h.callback_context,
                    "hasCallBackToken": bool(h.callback_token),
                    "failures": h.failures,
                    "applicationId": h.application_id,
                }
                for h in state.webhooks.values()
            ],
            "media": [
                {
                    "mediaId": m.media_id,
                    "fileName": m.file_name,
                    "contentType": m.content_type,
                    "size": len(m.data),
                    "url": m.url,
                }
                for m in state.media.values()
            ],
            "tokens": {
                "refreshTokensValid": sum(
                    1 for t in state.refresh_tokens.values() if not t.revoked and t.expires_at > now
                ),
                "accessTokensValid": sum(
                    1 for t in state.access_tokens.values() if t.expires_at > now
                ),
            },
            "faults": sim.faults.public(),
            "pendingRedirects": sum(r.remaining for r in sim.redirects),
            "clockOffsetSeconds": sim.clock.offset,
            "clockFrozen": sim.clock.frozen,
        }
    )


async def get_calls(request: Request) -> JSONResponse:
    sim = sim_of(request)
    since = _float_param(request.query_params.get("since"), "since")
    since_seq = _float_param(request.query_params.get("sinceSeq"), "sinceSeq")
    calls = [
        c
        for c in sim.calls
        if (since is None or c["ts"] > since) and (since_seq is None or c["seq"] > since_seq)
    ]
    return JSONResponse({"calls": calls})


def _float_param(raw: str | None, name: str) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise bad_request(f"{name} must be a number") from None


async def get_stats(request: Request) -> JSONResponse:
    return JSONResponse(sim_of(request).stats())
