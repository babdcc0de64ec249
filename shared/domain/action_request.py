"""Preparing a send request, and its idempotency identity (pure: no I/O).

A request is validated and, for a template, rendered into the Kaizala action it stands for
(`prepare`). Its identity is the correlation id: a UUIDv5 of the caller's `Idempotency-Key`,
else of a hash of the request content, so a repeat (or a concurrent duplicate) of the same
request lands on the same `actions` row.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from shared.domain.actions import BodyError, Regarding, SendActionRequest, validate_body
from shared.domain.templates import blame_variables, render
from shared.errors import ValidationError

CORRELATION_NS = uuid.UUID("6f1c1d1e-4b7a-4f5e-9d2c-8a3b7c6d5e4f")
TITLE_CHARS = 200


@dataclass(frozen=True)
class Prepared:
    group_id: str
    action_type: str
    action_package_id: str | None
    body: dict[str, Any]
    template: str | None
    regarding: Regarding

    @property
    def title(self) -> str:
        b = self.body
        title = b.get("title") or b.get("question") or b.get("Title") or b.get("message")
        return str(title or b.get("caption") or "")[:TITLE_CHARS]


def prepare(req: SendActionRequest) -> Prepared:
    if req.template is not None:
        action_type, raw_body = render(req.template, dict(req.variables or {}))
    else:
        # the model guarantees both are present without a template
        assert req.actionType is not None
        assert req.actionBody is not None
        action_type, raw_body = req.actionType, req.actionBody
    try:
        body = validate_body(action_type, raw_body)
    except BodyError as exc:
        if req.template is not None:
            exc.errors = blame_variables(req.template, exc.details)
        first = exc.errors[0]
        msg = f"Invalid field {first['field']}: {first['message']}"
        raise ValidationError(msg, exc.errors) from None
    return Prepared(
        req.groupId, action_type, req.actionPackageId, body, req.template, req.regarding
    )


def request_hash(req: SendActionRequest) -> str:
    canonical = json.dumps(req.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def correlation_id_for(key: str) -> str:
    return str(uuid.uuid5(CORRELATION_NS, key))


def identity(req: SendActionRequest, idempotency_key: str | None) -> tuple[str, str]:
    """(correlation id, request hash): the key names the action; the hash tells a reuse apart."""
    rhash = request_hash(req)
    key = f"key:{idempotency_key}" if idempotency_key else f"content:{rhash}"
    return correlation_id_for(key), rhash


def replace_title(p: Prepared, title: str) -> Prepared:
    body = dict(p.body)
    body["title"] = title
    return Prepared(p.group_id, p.action_type, p.action_package_id, body, p.template, p.regarding)
