"""Just enough multipart/form-data parsing for `POST media`, on the standard library's MIME
parser (the project does not ship python-multipart)."""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser


@dataclass
class Part:
    name: str | None
    filename: str | None
    content_type: str | None  # None when the part had no Content-Type header
    data: bytes


def parse(content_type: str, body: bytes) -> list[Part]:
    """Raises ValueError when the body is not multipart/form-data."""
    if (
        not content_type.lower().startswith("multipart/form-data")
        or "boundary=" not in content_type
    ):
        raise ValueError("Content-Type must be multipart/form-data with a boundary")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise ValueError("body is not a multipart message")
    parts: list[Part] = []
    for part in message.iter_parts():
        if not isinstance(part, EmailMessage):
            continue
        payload = part.get_payload(decode=True)
        parts.append(
            Part(
                name=_param(part, "name"),
                filename=part.get_filename(),
                content_type=part.get_content_type() if part.get("Content-Type") else None,
                data=payload if isinstance(payload, bytes) else b"",
            )
        )
    return parts


def _param(part: EmailMessage, key: str) -> str | None:
    value = part.get_param(key, header="content-disposition")
    return value if isinstance(value, str) else None
