"""A chat message or an attachment posted in a Kaizala group, as a note on the group's record.

Pure. Kaizala's TextMessageCreated and AttachmentCreated events (see the published samples)
carry the sender (`fromUserName`, `fromUser`) and the content, but no time: the note shows
when the bridge received the event. An attachment is shown as links, each with its file name
and the attachment's type (`data.actionType`: Image, Document, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.domain.answers import iso_time, text
from shared.domain.rendering import NOTE_SUBJECT_MAX_LENGTH, truncate_utf16
from shared.domain.summary import fit_note

CONVERSATION_EVENTS = frozenset({"TextMessageCreated", "AttachmentCreated"})
MAX_FILES = 20
NAME_CHARS = 255  # a note's filename column; also the bound for a file name in the text
URL_CHARS = 2000


def is_conversation(event: Mapping[str, Any]) -> bool:
    return event.get("eventType") in CONVERSATION_EVENTS


def conversation_group(event: Mapping[str, Any]) -> str | None:
    """The group the message was posted in: the event's object, else `data.groupId`."""
    if event.get("objectType") == "Group" and isinstance(event.get("objectId"), str):
        return str(event["objectId"])
    data = event.get("data")
    group = data.get("groupId") if isinstance(data, Mapping) else None
    return group if isinstance(group, str) and group else None


def conversation_note(
    event: Mapping[str, Any], received_at: int, group_name: str = ""
) -> tuple[str, str]:
    """Subject and text of the note for one chat event."""
    raw = event.get("data")
    data: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    sender = text(event.get("fromUserName")) or "Unknown sender"
    phone = text(event.get("fromUser"))
    who = f"{sender} ({phone})" if phone else sender
    where = f" in {group_name}" if group_name else ""
    when = iso_time(received_at) or ""
    if event.get("eventType") == "AttachmentCreated":
        kind = text(data.get("actionType")) or "Attachment"
        files = _files(data.get("media"), kind)
        caption = text(data.get("caption"))
        first = files[0][0] if files else kind.lower()
        subject = f"Kaizala {kind.lower()} from {sender}: {caption or first}"
        lines = [f"Kaizala attachment{where}", f"From: {who}", f"Received: {when}"]
        if caption:
            lines.append(f"Caption: {caption}")
        lines.append("Files:" if files else "Files: (none in the event)")
        lines += [f"- {name} ({kind}): {url}" for name, url in files]
    else:
        said = data.get("text")
        message = said if isinstance(said, str) else ""
        subject = f"Kaizala message from {sender}: {text(message) or '(empty message)'}"
        lines = [f"Kaizala message{where}", f"From: {who}", f"Received: {when}", ""]
        lines.append(message.strip() or "(empty message)")
    lines += ["", f"Group id: {conversation_group(event) or '-'}"]
    lines.append(f"Event id: {event.get('eventId')}")
    return truncate_utf16(subject, NOTE_SUBJECT_MAX_LENGTH), fit_note("\n".join(lines))


def _files(media: Any, kind: str) -> list[tuple[str, str]]:
    files = []
    for item in media if isinstance(media, list) else []:
        if not isinstance(item, dict):
            continue
        url = text(item.get("mediaUrl") or item.get("url"))[:URL_CHARS]
        name = text(item.get("mediaFileName") or item.get("fileName") or item.get("name"))
        if url or name:
            files.append((name[:NAME_CHARS] or f"({kind.lower()})", url or "(no link)"))
    return files[:MAX_FILES]
