"""`POST media`: multipart/form-data uploads (python-multipart) and the served bytes."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.kaizala_sim.conftest import Sim
from tests.kaizala_sim.test_actions import upload


def post_raw(sim: Sim, body: bytes, content_type: str = "multipart/form-data; boundary=b") -> Any:
    return sim.api("POST", "media", content=body, headers={"Content-Type": content_type})


def part(disposition: str, data: bytes = b"data", content_type: str | None = "image/png") -> bytes:
    head = f"--b\r\nContent-Disposition: form-data; {disposition}\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    return head.encode() + b"\r\n" + data + b"\r\n"


END = b"--b--\r\n"


def test_media_upload_and_download(sim: Sim) -> None:
    media = upload(sim, data=bytes(range(256)))
    assert media["mediaResource"]
    served = sim.http.get(media["mediaUrl"])
    assert served.status_code == 200
    assert served.content == bytes(range(256))
    assert served.headers["content-type"] == "image/jpeg"
    no_type = (
        b'--b\r\nContent-Disposition: form-data; name="FileName"; filename="a.jpg"\r\n\r\n'
        b"data\r\n--b--\r\n"
    )
    response = sim.api(
        "POST",
        "media",
        content=no_type,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 415
    assert sim.api("POST", "media", json={"not": "multipart"}).status_code == 415


def test_content_type_without_boundary_is_415(sim: Sim) -> None:
    body = part('name="FileName"; filename="a.png"') + END
    for content_type in ("multipart/form-data", "multipart/mixed; boundary=b", "image/png"):
        response = post_raw(sim, body, content_type)
        assert response.status_code == 415, content_type
        assert response.json()["code"] == "UnsupportedMediaType"


def test_broken_or_fileless_bodies_are_400(sim: Sim) -> None:
    truncated = part('name="FileName"; filename="a.png"')  # no closing boundary
    assert post_raw(sim, truncated).status_code == 400
    assert post_raw(sim, b"no boundary anywhere").status_code == 400
    field_only = part('name="caption"', b"just text", None) + END
    assert post_raw(sim, field_only).json()["message"].startswith("no file part")
    empty_name = part('name="FileName"; filename=""') + END
    assert post_raw(sim, empty_name).status_code == 400


def test_file_part_found_among_fields_with_its_bytes_and_type(sim: Sim) -> None:
    data = b"\x89PNG\r\nx--b\r\n\x00\xff"  # CRLF and dashes that are no delimiter
    body = (
        part('name="caption"', b"site", None)
        + part('name="FileName"; filename="site plan.png"', data, "image/PNG; charset=binary")
        + END
    )
    response = post_raw(sim, body)
    assert response.status_code == 200, response.text
    media = response.json()
    assert media["fileName"] == "site plan.png"
    assert media["mediaUrl"].endswith("/site%20plan.png")
    served = sim.http.get(media["mediaUrl"])
    assert served.content == data
    assert served.headers["content-type"] == "image/png"  # lower-cased, parameters dropped
    descriptor = json.loads(base64.b64decode(media["mediaResource"]))
    assert descriptor["Size"] == len(data)


def test_file_names_as_clients_send_them(sim: Sim) -> None:
    # httpx (the bridge's client) sends a non-ASCII name as raw UTF-8.
    media = upload(sim, name="façade 北.jpg")
    assert media["fileName"] == "façade 北.jpg"
    quoted = part('name="FileName"; filename="say \\"hi\\".png"') + END
    assert post_raw(sim, quoted).json()["fileName"] == 'say "hi".png'
    windows_path = part('name="FileName"; filename="C:\\\\Users\\\\a\\\\b.png"') + END
    assert post_raw(sim, windows_path).json()["fileName"] == "b.png"
    # RFC 7578 forbids filename*=; the plain filename stays authoritative.
    extended = part('name="FileName"; filename="plain.png"; filename*=UTF-8\'\'other.png') + END
    assert post_raw(sim, extended).json()["fileName"] == "plain.png"


def test_media_over_the_limit_is_413(sim: Sim) -> None:
    sim.config(maxMediaBytes=1000)
    response = sim.api("POST", "media", files={"FileName": ("big.jpg", b"x" * 2000, "image/jpeg")})
    assert response.status_code == 413
    assert response.json()["code"] == "PayloadTooLarge"
