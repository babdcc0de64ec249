"""GET /api/console (ADMIN): the operator console, one page served by the app itself.

The HTML, CSS and JavaScript are files in `console_assets/` (deployed with `functions/`), put
together into one answer: the page needs no second request, so the admin key in its URL
(`?code=`) is all Azure asks for. The inline style and script are allowed by their SHA-256
in the Content-Security-Policy (no 'unsafe-inline'); everything else is 'self' only.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path

import azure.functions as func

from functions.http import handle_errors

bp = func.Blueprint()

ASSETS = Path(__file__).parent / "console_assets"


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def page() -> tuple[str, str]:
    """The page and its Content-Security-Policy (read once per process: files do not change)."""
    html = (ASSETS / "console.html").read_text(encoding="utf-8")
    css = (ASSETS / "console.css").read_text(encoding="utf-8")
    js = (ASSETS / "console.js").read_text(encoding="utf-8")
    csp = "; ".join(
        [
            "default-src 'self'",
            f"script-src {_hash(js)}",
            f"style-src {_hash(css)}",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    body = html.replace("/*STYLE*/", css, 1).replace("/*SCRIPT*/", js, 1)
    return body, csp


@bp.route(route="console", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@handle_errors
async def console_page(req: func.HttpRequest) -> func.HttpResponse:
    body, csp = page()
    return func.HttpResponse(
        body,
        status_code=200,
        mimetype="text/html",
        charset="utf-8",
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": csp,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
        },
    )
