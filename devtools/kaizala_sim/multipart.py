"""multipart/form-data for `POST media`, on python-multipart's streaming parser.

`parse` keeps every part's bytes (the upload route); `PartsReader(..., keep_data=False)` is fed
chunk by chunk and keeps only names, file names, content types and sizes (the call log).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header


class NotMultipartError(ValueError):
    """The Content-Type is not multipart/form-data with a boundary."""


class MalformedMultipartError(ValueError):
    """The body does not follow its multipart boundary to the closing one."""


@dataclass
class Part:
    name: str | None
    filename: str | None  # None without a filename parameter; "" when it is empty
    content_type: str | None  # None when the part had no Content-Type header
    size: int = 0
    data: bytearray = field(default_factory=bytearray)  # empty unless the data is kept


def boundary_of(content_type: str) -> bytes:
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise NotMultipartError("Content-Type must be multipart/form-data with a boundary")
    return boundary


class PartsReader:
    """Parts of one multipart body, written in chunks as they arrive."""

    def __init__(self, content_type: str, *, keep_data: bool) -> None:
        self.parts: list[Part] = []
        self._keep = keep_data
        self._ended = False
        self._headers: dict[str, str] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._parser = MultipartParser(
            boundary_of(content_type),
            callbacks={
                "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
                "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._part_begin,
                "on_part_data": self._data,
                "on_end": self._end,
            },
        )

    def write(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except ValueError as exc:
            raise MalformedMultipartError(f"malformed multipart body: {exc}") from None

    def finish(self) -> list[Part]:
        if not self._ended:
            raise MalformedMultipartError("multipart body ends before its closing boundary")
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
            Part(
                name=_text(disposition.get(b"name")),
                filename=_text(disposition.get(b"filename")),
                content_type=parse_options_header(raw_type)[0].decode() if raw_type else None,
            )
        )

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self.parts[-1]
        part.size += end - start
        if self._keep:
            part.data.extend(data[start:end])

    def _end(self) -> None:
        self._ended = True


def _text(raw: bytes | None) -> str | None:
    # Clients (httpx, browsers) send non-ASCII file names as raw UTF-8 in the header.
    return None if raw is None else raw.decode("utf-8", errors="replace")


def parse(content_type: str, body: bytes) -> list[Part]:
    """NotMultipartError for a wrong Content-Type, MalformedMultipartError for a broken body."""
    reader = PartsReader(content_type, keep_data=True)
    reader.write(body)
    return reader.finish()
