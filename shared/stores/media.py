"""The `media` table: files uploaded to Kaizala, so that a repeated upload makes no second one.

Row: PartitionKey = the upload's digest (sha256 of type, name and bytes), RowKey = "m";
fileName, contentType, actionType, size, createdAt (epoch ms), and Kaizala's mediaResource
packed into `Res*` properties (it can embed a thumbnail, beyond one property's 64 KiB).
Rows older than the retention are ignored, and deleted a few at a time by later uploads.

This module is the only code that names this table or knows its row shape.
"""

from __future__ import annotations

from shared.adapters.tables import TableStore, expire_rows, pack_blob, unpack_blob
from shared.domain.media import MediaResource, Upload

TABLE = "media"
ROW_KEY = "m"
EXPIRY_BATCH = 20


class MediaStore:
    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    async def find(self, upload: Upload, not_before_ms: int) -> MediaResource | None:
        stored = await self._tables.get(TABLE, upload.digest(), ROW_KEY)
        if stored is None or int(stored.entity.get("createdAt") or 0) < not_before_ms:
            return None
        e = stored.entity
        return MediaResource(
            mediaResource=unpack_blob(e, "Res").decode(),
            actionType=e["actionType"],
            fileName=str(e["fileName"]),
            contentType=str(e["contentType"]),
            size=int(e["size"]),
        )

    async def remember(self, upload: Upload, media: MediaResource, now_ms: int) -> None:
        await self._tables.upsert(
            TABLE,
            {
                "PartitionKey": upload.digest(),
                "RowKey": ROW_KEY,
                "fileName": media.fileName,
                "contentType": media.contentType,
                "actionType": media.actionType,
                "size": media.size,
                "createdAt": now_ms,
                **pack_blob(media.mediaResource.encode(), "Res"),
            },
            replace=True,  # a re-upload after the retention may need fewer Res* chunks
        )

    async def expire(self, cutoff_ms: int) -> int:
        return await expire_rows(self._tables, TABLE, cutoff_ms, "createdAt", limit=EXPIRY_BATCH)
