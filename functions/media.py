"""Media: POST /api/media (multipart/form-data, one file) uploads through Kaizala's UploadMedia."""

from __future__ import annotations

import azure.functions as func

from functions.http import handle_errors, json_response
from shared.domain.media import read_upload
from shared.runtime import get_runtime

bp = func.Blueprint()


@bp.route(route="media", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@handle_errors
async def upload_media(req: func.HttpRequest) -> func.HttpResponse:
    rt = get_runtime()
    # read_upload refuses an oversized body before parsing it (413), then a non-multipart one
    # (415), a missing or second file part (400) and a file type Kaizala is not sent (415).
    upload = read_upload(
        req.headers.get("content-type"), req.get_body() or b"", rt.settings.media_max_bytes
    )
    outcome = await rt.media.upload(upload)
    return json_response(outcome.body.model_dump(), outcome.http_status)
