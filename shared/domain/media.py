"""Media for Kaizala (POST /api/media): which files are taken, and reading them (pure: no I/O).

Kaizala's UploadMedia takes one multipart/form-data file ("image, document, audio, album or
video") and answers a `mediaResource` string that an Image or Document action, or an
Announcement's `MediaResources`, then carries. It documents no size limit: the bridge takes
at most `MEDIA_MAX_BYTES`. It accepts what it can send on: images (Image) and office
documents, PDF and plain text (Document). The body is read with python-multipart's streaming
parser, which stops at the first file byte over the limit.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

from shared.errors import PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError

# Room for the boundaries and part headers around the file, so a file of exactly the limit
# fits; anything bigger is refused before parsing.
ENVELOPE_BYTES = 16 * 1024
FILE_FIELDS = ("file", "FileName")  # the bridge's name, and Kaizala's own (UploadMedia)

MediaKind = Literal["Image", "Document"]

IMAGE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/bmp", "image/webp", "image/heic", "image/tiff"}
)
DOCUMENT_TYPES = frozenset(
    {
        "application/pdf",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
        "application/rtf",
        "text/plain",
        "text/csv",
    }
)
# For a part sent without a type (or as application/octet-stream). A fixed table rather than
# `mimetypes`, whose answers depend on the machine's mime.types files.
BY_EXTENSION = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "webp": "image/webp",
    "heic": "image/heic",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "pdf": "application/pdf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "rtf": "application/rtf",
    "txt": "text/plain",
    "csv": "text/csv",
}
# What the Kaizala client puts in a part header: no control characters, quotes or separators.
_FILE_NAME = re.compile(r"[^\x00-\x1f\x7f\"\\/]{1,255}")


@dataclass(frozen=True)
class Upload:
    file_name: str
    content_type: str
    kind: MediaKind
    data: bytes = field(repr=False)

    def digest(self) -> str:
        """The upload's identity: the same file, name and type is the same media."""
        h = hashlib.sha256()
        for piece in (self.content_type.encode(), self.file_name.encode(), self.data):
            h.update(len(piece).to_bytes(8, "big"))
            h.update(piece)
        return h.hexdigest()


class MediaResource(BaseModel):
    model_config = ConfigDict(defer_build=True)
    mediaResource: str = Field(description="Kaizala's media resource: put it in an action body")
    actionType: MediaKind = Field(description="the actionType that sends this file")
    fileName: str
    contentType: str
    size: int = Field(description="bytes")


def kind_of(content_type: str) -> MediaKind | None:
    if content_type in IMAGE_TYPES:
        return "Image"
    if content_type in DOCUMENT_TYPES:
        return "Document"
    return None


def resolve_type(declared: str | None, file_name: str) -> str:
    """The part's own type, or the file extension's when it has none (or only octet-stream)."""
    if declared and declared != "application/octet-stream":
        return declared
    extension = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    return BY_EXTENSION.get(extension, declared or "")


def body_limit(max_file_bytes: int) -> int:
    return max_file_bytes + ENVELOPE_BYTES


def read_upload(content_type: str | None, body: bytes, max_file_bytes: int) -> Upload:
    """The one file of a multipart/form-data body, checked; errors never quote the input."""
    if len(body) > body_limit(max_file_bytes):
        raise PayloadTooLargeError(
            f"The body is larger than {body_limit(max_file_bytes)} bytes: "
            f"the file may have at most {max_file_bytes} bytes."
        )
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaTypeError(
            "Send the file as multipart/form-data (one part named `file`)."
        )
    reader = _PartsReader(boundary, max_file_bytes)
    parts = reader.read(body)
    files = [p for p in parts if p.file_name is not None]
    if not files or files[0].name not in FILE_FIELDS:
        raise ValidationError(
            "The body has no file part: send the file in the form field `file`.",
            [{"field": "file", "message": "required"}],
        )
    if len(parts) > 1:
        raise ValidationError("Send one file part named `file` and nothing else.")
    part = files[0]
    name = (part.file_name or "").strip()
    if not _FILE_NAME.fullmatch(name):
        raise ValidationError(
            "The file name is empty, longer than 255 characters, or has control characters, "
            "quotes or slashes.",
            [{"field": "file", "message": "file name not accepted"}],
        )
    resolved = resolve_type(part.content_type, name)
    media_kind = kind_of(resolved)
    if media_kind is None:
        raise UnsupportedMediaTypeError(
            "The file type is not accepted: send an image (JPEG, PNG, GIF, BMP, WebP, HEIC, "
            "TIFF) or a document (PDF, Word, Excel, PowerPoint, OpenDocument, RTF, text, CSV)."
        )
    if not part.data:
        raise ValidationError("The file is empty.", [{"field": "file", "message": "empty file"}])
    return Upload(name, resolved, media_kind, bytes(part.data))


@dataclass
class _Part:
    name: str | None
    file_name: str | None  # None: not a file part (no filename parameter)
    content_type: str | None
    data: bytearray = field(default_factory=bytearray)


class _PartsReader:
    def __init__(self, boundary: bytes, max_file_bytes: int) -> None:
        self.parts: list[_Part] = []
        self._max = max_file_bytes
        self._ended = False
        self._headers: dict[str, str] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
                "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._part_begin,
                "on_part_data": self._data,
                "on_end": self._end,
            },
        )

    def read(self, body: bytes) -> list[_Part]:
        try:
            self._parser.write(body)
        except ValueError:
            raise ValidationError("The multipart body is malformed.") from None
        if not self._ended:
            raise ValidationError("The multipart body ends before its closing boundary.")
        return self.parts

    def _header_end(self) -> None:
        # Header bytes arrive as sent; latin-1 keeps every byte for the parameter parser.
        name = self._field.decode("latin-1").strip().lower()
        self._headers[name] = self._value.decode("latin-1").strip()
        self._field.clear()
        self._value.clear()

    def _part_begin(self) -> None:
        headers, self._headers = self._headers, {}
        _, disposition = parse_options_header(headers.get("content-disposition"))
        raw_type = headers.get("content-type")
        self.parts.append(
            _Part(
                name=_text(disposition.get(b"name")),
                file_name=_text(disposition.get(b"filename")),
                content_type=parse_options_header(raw_type)[0].decode().lower()
                if raw_type
                else None,
            )
        )

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self.parts[-1]
        if len(part.data) + (end - start) > (self._max if part.file_name is not None else 4096):
            if part.file_name is not None:
                raise PayloadTooLargeError(f"The file is larger than {self._max} bytes.")
            raise ValidationError("Send one file part named `file` and nothing else.")
        part.data.extend(data[start:end])

    def _end(self) -> None:
        self._ended = True


def _text(raw: bytes | None) -> str | None:
    # Clients (httpx, browsers, curl) send non-ASCII file names as raw UTF-8 in the header.
    return None if raw is None else raw.decode("utf-8", errors="replace")
