"""POST /api/media: one file to Kaizala's UploadMedia, once per distinct file.

The file has been read and checked by `shared.domain.media.read_upload`. The same file (bytes,
name and type) uploaded again within the retention answers 200 with the first media resource
and makes no Kaizala call, so a caller's retry is harmless; a new one spends one unit of the
shared Kaizala budget (503 with Retry-After when it is spent) and answers 201.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from shared.adapters.kaizala import KaizalaClient
from shared.clock import Clock, now_ms, wall
from shared.domain.media import MediaResource, Upload
from shared.errors import StorageError, UnavailableError
from shared.logsafe import log_value
from shared.stores.budget import Budget
from shared.stores.media import MediaStore

log = logging.getLogger("shared.services.outbound")


@dataclass
class MediaOutcome:
    http_status: int  # 201: uploaded now; 200: the same file was uploaded before
    body: MediaResource


class MediaUploads:
    def __init__(
        self,
        store: MediaStore,
        budget: Budget,
        kaizala: KaizalaClient,
        *,
        retention_days: int,
        clock: Clock = wall,
    ) -> None:
        self._store = store
        self._budget = budget
        self._kaizala = kaizala
        self._retention_ms = retention_days * 86_400_000
        self._clock = clock

    async def upload(self, upload: Upload) -> MediaOutcome:
        now = now_ms(self._clock)
        since = now - self._retention_ms
        earlier = await self._store.find(upload, since)
        if earlier is not None:
            log.info("media %s: a repeat, no upload", log_value(upload.file_name))
            return MediaOutcome(200, earlier)
        wait = await self._budget.try_acquire()
        if wait > 0:
            raise UnavailableError(
                "The shared Kaizala call budget is spent for now; retry shortly.",
                retry_after=wait,
            )
        result = await self._kaizala.upload_media(
            upload.file_name, upload.data, upload.content_type
        )
        media = MediaResource(
            mediaResource=result.mediaResource,
            actionType=upload.kind,
            fileName=upload.file_name,
            contentType=upload.content_type,
            size=len(upload.data),
        )
        await self._store.remember(upload, media, now)
        log.info(
            "media %s uploaded (%s, %d bytes)",
            log_value(upload.file_name),
            upload.content_type,
            len(upload.data),
        )
        with contextlib.suppress(StorageError):  # the upload is done; old rows go later
            await self._store.expire(since)
        return MediaOutcome(201, media)
