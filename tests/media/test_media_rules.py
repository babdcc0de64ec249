"""Reading an upload (shared/domain/media.py) without the stack: types, names, identity."""

from __future__ import annotations

import pytest

from shared.domain.media import ENVELOPE_BYTES, Upload, kind_of, read_upload, resolve_type
from shared.errors import PayloadTooLargeError, UnsupportedMediaTypeError
from tests.media.uploads import PDF, PNG, encoded


@pytest.mark.parametrize(
    ("declared", "name", "expected"),
    [
        ("image/png", "x.jpg", "image/png"),  # the declared type wins
        ("application/octet-stream", "Offer.PDF", "application/pdf"),
        (None, "sheet.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("application/octet-stream", "blob", "application/octet-stream"),
        (None, "noextension", ""),
    ],
)
def test_resolve_type(declared: str | None, name: str, expected: str) -> None:
    assert resolve_type(declared, name) == expected


def test_kinds() -> None:
    assert kind_of("image/jpeg") == "Image"
    assert kind_of("application/pdf") == "Document"
    assert kind_of("text/html") is None
    assert kind_of("image/svg+xml") is None  # scriptable


def test_a_windows_path_keeps_only_the_file_name() -> None:
    ctype, body = encoded(files={"file": ("x.pdf", PDF, "application/pdf")})
    body = body.replace(b'filename="x.pdf"', b'filename="C:\\\\Users\\\\a\\\\offer.pdf"')
    assert read_upload(ctype, body, 1024).file_name == "offer.pdf"


def test_the_body_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(PayloadTooLargeError):
        read_upload("text/plain", b"x" * (1024 + ENVELOPE_BYTES + 1), 1024)  # not even multipart
    with pytest.raises(UnsupportedMediaTypeError):
        read_upload("text/plain", b"x" * (1024 + ENVELOPE_BYTES), 1024)


def test_the_upload_identity_covers_name_type_and_bytes() -> None:
    base = Upload("a.png", "image/png", "Image", PNG)
    assert base.digest() == Upload("a.png", "image/png", "Image", PNG).digest()
    assert base.digest() != Upload("b.png", "image/png", "Image", PNG).digest()
    assert base.digest() != Upload("a.png", "image/gif", "Image", PNG).digest()
    assert base.digest() != Upload("a.png", "image/png", "Image", PNG + b"\x00").digest()
    # Length-prefixed pieces: moving a byte from the name into the type is another file.
    assert Upload("ab", "x/y", "Image", b"").digest() != Upload("b", "x/ya", "Image", b"").digest()
    assert "data=" not in repr(base)  # file bytes never reach a repr (or a log)
