"""POST /api/media, and the actions that carry its media, over Azurite and the simulator.

What Kaizala got is read from the simulator: its state (the stored file and its bytes, behind
the URL it serves them at) and its call log (the multipart parts, the exact action bodies).
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from shared.runtime import Runtime
from tests.bridge_fixtures import OPPORTUNITY, SAMPLE_GROUP, KaizalaSim
from tests.media.conftest import LIMIT
from tests.media.uploads import PDF, PNG, encoded, media_request, upload, uploaded
from tests.support import body_json, call, request

REGARDING = {"entityType": "opportunity", "id": OPPORTUNITY, "name": "Contoso – 500 laptops"}


def media_calls(kaizala: KaizalaSim) -> list[dict[str, Any]]:
    return [c for c in kaizala.calls("/v1/media", "POST")]


def sent_actions(kaizala: KaizalaSim) -> list[dict[str, Any]]:
    return [c for c in kaizala.calls("/actions", "POST") if c["path"].endswith("/actions")]


async def send(kind: str, body: dict[str, Any]) -> Any:
    payload = {"groupId": SAMPLE_GROUP, "actionType": kind, "actionBody": body}
    resp = await call(
        "send_action", request("POST", "/api/actions", body={**payload, "regarding": REGARDING})
    )
    return resp


async def test_an_upload_answers_the_media_resource_kaizala_holds(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    resp = await upload("site photo.png", PNG, "image/png")
    assert resp.status_code == 201, body_json(resp)
    body = body_json(resp)
    assert body["actionType"] == "Image"
    assert (body["fileName"], body["contentType"], body["size"]) == (
        "site photo.png",
        "image/png",
        len(PNG),
    )

    (stored,) = kaizala.state()["media"]
    assert (stored["fileName"], stored["contentType"], stored["size"]) == (
        "site photo.png",
        "image/png",
        len(PNG),
    )
    assert kaizala.http.get(stored["url"]).content == PNG  # the very bytes
    # The simulator's resource names its file by id and URL: it is the one it issued.
    described = json.loads(base64.b64decode(body["mediaResource"]))
    assert (described["Id"], described["Url"]) == (stored["mediaId"], stored["url"])

    (sent,) = media_calls(kaizala)
    assert sent["parts"] == [
        {
            "name": "FileName",
            "filename": "site photo.png",
            "contentType": "image/png",
            "size": len(PNG),
        }
    ]


async def test_the_same_file_again_makes_no_second_upload(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    first = await uploaded("offer.pdf", PDF, "application/pdf")
    again = await upload("offer.pdf", PDF, "application/pdf")
    assert again.status_code == 200
    assert body_json(again) == first
    assert len(media_calls(kaizala)) == 1

    renamed = await upload("offer-v2.pdf", PDF, "application/pdf")
    assert renamed.status_code == 201  # another name is another media
    assert len(media_calls(kaizala)) == 2


@pytest.mark.parametrize(
    ("kind", "name", "content", "ctype"),
    [("Image", "site.png", PNG, "image/png"), ("Document", "offer.pdf", PDF, "application/pdf")],
)
async def test_an_image_or_document_message_carries_the_media(
    bridge: Runtime, kaizala: KaizalaSim, kind: str, name: str, content: bytes, ctype: str
) -> None:
    media = await uploaded(name, content, ctype)
    assert media["actionType"] == kind
    resource = media["mediaResource"]

    resp = await send(kind, {"mediaResource": resource, "caption": "From the site visit"})
    assert resp.status_code == 201, body_json(resp)
    plain = await send(kind, {"mediaResource": resource})  # no caption: sent empty
    assert plain.status_code == 201, body_json(plain)

    assert [c["body"] for c in sent_actions(kaizala)] == [
        {
            "actionType": kind,
            "actionBody": {"mediaResource": resource, "caption": "From the site visit"},
        },
        {"actionType": kind, "actionBody": {"mediaResource": resource, "caption": ""}},
    ]
    created = [a for a in kaizala.state()["actions"] if a["actionType"] == kind]
    assert len(created) == 2


async def test_an_announcement_carries_the_media(bridge: Runtime, kaizala: KaizalaSim) -> None:
    photo = (await uploaded("site.png", PNG))["mediaResource"]
    offer = (await uploaded("offer.pdf", PDF, "application/pdf"))["mediaResource"]
    body = {
        "Title": "Site visit",
        "Message": "Photos and the offer",
        "MediaResources": [photo, offer],
    }
    resp = await send("Announcement", body)
    assert resp.status_code == 201, body_json(resp)
    assert [c["body"] for c in sent_actions(kaizala)] == [
        {"actionType": "Announcement", "actionBody": body}
    ]


async def test_an_image_message_needs_a_media_resource(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    resp = await send("Image", {"caption": "no file"})
    assert resp.status_code == 400
    assert body_json(resp)["errors"][0]["field"] == "actionBody.mediaResource"
    assert sent_actions(kaizala) == []


async def test_a_part_without_a_type_is_typed_by_its_extension(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    octet = await upload("offer.pdf", PDF, "application/octet-stream")
    assert octet.status_code == 201, body_json(octet)
    assert body_json(octet)["contentType"] == "application/pdf"
    assert body_json(octet)["actionType"] == "Document"
    boundary = "b0undary"
    raw = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="site.jpg"\r\n\r\n'
        ).encode()
        + PNG
        + f"\r\n--{boundary}--\r\n".encode()
    )
    untyped = await call(
        "upload_media", media_request(raw, f"multipart/form-data; boundary={boundary}")
    )
    assert untyped.status_code == 201, body_json(untyped)
    assert body_json(untyped)["contentType"] == "image/jpeg"
    assert [c["parts"][0]["contentType"] for c in media_calls(kaizala)] == [
        "application/pdf",
        "image/jpeg",
    ]


# --- limits ------------------------------------------------------------------------------------


async def test_a_file_of_exactly_the_limit_is_taken(bridge: Runtime, kaizala: KaizalaSim) -> None:
    resp = await upload("big.pdf", b"%" * LIMIT, "application/pdf")
    assert resp.status_code == 201, body_json(resp)
    assert body_json(resp)["size"] == LIMIT


@pytest.mark.parametrize(
    ("files", "data"),
    [
        ({"file": ("big.pdf", b"%" * (LIMIT + 1), "application/pdf")}, None),  # the file
        ({"file": ("a.pdf", PDF, "application/pdf")}, {"note": "x" * (LIMIT + 20_000)}),  # body
    ],
    ids=["file-over-the-limit", "body-over-the-limit"],
)
async def test_over_the_limit_is_413_and_nothing_is_uploaded(
    bridge: Runtime, kaizala: KaizalaSim, files: Any, data: Any
) -> None:
    ctype, body = encoded(files=files, data=data)
    resp = await call("upload_media", media_request(body, ctype))
    assert resp.status_code == 413
    assert body_json(resp)["type"].endswith("/payload-too-large")
    assert str(LIMIT) in body_json(resp)["detail"]
    assert media_calls(kaizala) == []


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b'{"file": "x"}', "application/json"),
        (b"file=x", "application/x-www-form-urlencoded"),
        (b"--x\r\n", None),
        (b"--x\r\n", "multipart/form-data"),  # no boundary
    ],
    ids=["json", "form-urlencoded", "no-content-type", "no-boundary"],
)
async def test_a_body_that_is_not_multipart_is_415(
    bridge: Runtime, kaizala: KaizalaSim, body: bytes, ctype: str | None
) -> None:
    resp = await call("upload_media", media_request(body, ctype))
    assert resp.status_code == 415
    assert "multipart/form-data" in body_json(resp)["detail"]
    assert media_calls(kaizala) == []


@pytest.mark.parametrize(
    ("name", "content", "ctype"),
    [
        ("setup.exe", b"MZ\x90\x00", "application/x-msdownload"),
        ("logo.svg", b"<svg/>", "image/svg+xml"),
        ("blob.bin", b"\x00\x01", "application/octet-stream"),
        ("clip.mp4", b"\x00\x00\x00\x18ftyp", "video/mp4"),
    ],
)
async def test_a_file_type_that_is_not_accepted_is_415(
    bridge: Runtime, kaizala: KaizalaSim, name: str, content: bytes, ctype: str
) -> None:
    resp = await upload(name, content, ctype)
    assert resp.status_code == 415
    assert "not accepted" in body_json(resp)["detail"]
    assert media_calls(kaizala) == []


def _raw(*parts: str, close: bool = True) -> tuple[str, bytes]:
    boundary = "b0undary"
    body = "".join(f"--{boundary}\r\n{p}\r\n" for p in parts)
    return f"multipart/form-data; boundary={boundary}", (
        body + (f"--{boundary}--\r\n" if close else "")
    ).encode()


FILE_PART = 'Content-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
FILE_PART += "Content-Type: application/pdf\r\n\r\n%PDF"


@pytest.mark.parametrize(
    ("parts", "close", "detail"),
    [
        (['Content-Disposition: form-data; name="note"\r\n\r\nhello'], True, "no file part"),
        ([FILE_PART.replace('name="file"', 'name="attachment"')], True, "no file part"),
        ([FILE_PART, FILE_PART], True, "one file part"),
        ([FILE_PART, 'Content-Disposition: form-data; name="x"\r\n\r\ny'], True, "one file part"),
        ([FILE_PART], False, "closing boundary"),
        ([FILE_PART.replace("\r\nContent-Type", "\rContent-Type")], True, "malformed"),
        ([FILE_PART.replace("%PDF", "")], True, "empty"),
        ([FILE_PART.replace('filename="a.pdf"', 'filename="a\x01b.pdf"')], True, "file name"),
        ([FILE_PART.replace('filename="a.pdf"', 'filename=""')], True, "file name"),
    ],
    ids=[
        "no-file",
        "wrong-field",
        "two-files",
        "extra-field",
        "truncated",
        "broken-header",
        "empty-file",
        "control-char-name",
        "empty-name",
    ],
)
async def test_a_malformed_upload_is_400(
    bridge: Runtime, kaizala: KaizalaSim, parts: list[str], close: bool, detail: str
) -> None:
    ctype, body = _raw(*parts, close=close)
    resp = await call("upload_media", media_request(body, ctype))
    assert resp.status_code == 400, body_json(resp)
    assert body_json(resp)["type"].endswith("/validation")
    assert detail in body_json(resp)["detail"]
    assert media_calls(kaizala) == []


async def test_kaizala_fields_name_is_accepted_too(bridge: Runtime, kaizala: KaizalaSim) -> None:
    resp = await upload("site.png", PNG, "image/png", field="FileName")
    assert resp.status_code == 201, body_json(resp)


async def test_a_kaizala_failure_is_an_upstream_error(bridge: Runtime, kaizala: KaizalaSim) -> None:
    kaizala.control("POST", "faults", json={"pathRegex": "/media$", "status": 500, "count": 1})
    resp = await upload("site.png", PNG)
    assert resp.status_code == 502
    assert body_json(resp)["type"].endswith("/upstream")
    assert len(media_calls(kaizala)) == 1  # a POST is never retried blindly
    assert (await upload("site.png", PNG)).status_code == 201  # nothing was remembered


async def test_file_names_and_contents_stay_out_of_the_logs(
    bridge: Runtime, kaizala: KaizalaSim, caplog: pytest.LogCaptureFixture
) -> None:
    name = "offer\u2028forged log line\x85.pdf"  # line separators a log viewer would break on
    marker = b"CONFIDENTIAL-FILE-CONTENT-7f3a"
    caplog.set_level(logging.DEBUG)
    resp = await upload(name, PDF + marker, "application/pdf")
    assert resp.status_code == 201, body_json(resp)
    assert body_json(resp)["fileName"] == name  # kept as given for Kaizala and the caller
    lines = [r.getMessage() for r in caplog.records]
    assert not any("\u2028" in line or "\x85" in line for line in lines)
    assert any("offer\\x2028forged log line\\x85.pdf" in line for line in lines)
    assert not any(marker.decode() in line for line in lines)


@pytest.mark.parametrize("kind", ["Image", "Document"])
async def test_a_file_message_in_doubt_is_failed_not_resent(
    bridge: Runtime, kaizala: KaizalaSim, kind: str
) -> None:
    resource = (await uploaded("site.png", PNG))["mediaResource"]
    kaizala.control("POST", "faults", json={"pathRegex": "/actions$", "status": 502, "count": 1})
    resp = await send(kind, {"mediaResource": resource, "caption": "x"})
    assert resp.status_code == 202
    assert body_json(resp)["status"] == "sending"
    record = await bridge.actions_store.get(body_json(resp)["correlationId"])
    assert record is not None
    # Only a caption could match it in Kaizala's list: never adopted, never sent again.
    assert await bridge.outbound.reconcile(record) == "failed"
    assert kaizala.calls("/actions", "GET") == []
    assert len(sent_actions(kaizala)) == 1
