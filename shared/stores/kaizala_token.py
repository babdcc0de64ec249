"""The Kaizala token's row in the `leases` table: the refresh lease and the token's public facts.

Row: PartitionKey = "kaizala", RowKey = "access-token"; holder, leaseUntil (the refresh lease,
epoch seconds); generation, issuedOn, expiresOn (epoch ms, 0 for none), endpointUrl;
refreshIssuedOn, refreshExpiresOn, rotatedOn (epoch ms, 0 for none). Never a token value: the
hot path and /api/health read this row, and the secret store once per token generation.
Written only through `LeaseStore`, which holds the lease semantics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.stores.leases import TOKEN_LEASE, LeaseRow, LeaseStore


@dataclass(frozen=True)
class TokenRow:
    lease: LeaseRow
    generation: int
    issued_ms: int
    expires_ms: int
    endpoint_url: str
    refresh_expires_ms: int
    rotated_ms: int

    @classmethod
    def from_lease(cls, row: LeaseRow) -> TokenRow:
        e = row.data
        return cls(
            lease=row,
            generation=int(e.get("generation", 0)),
            issued_ms=int(e.get("issuedOn", 0)),
            expires_ms=int(e.get("expiresOn", 0)),
            endpoint_url=str(e.get("endpointUrl") or ""),
            refresh_expires_ms=int(e.get("refreshExpiresOn", 0)),
            rotated_ms=int(e.get("rotatedOn", 0)),
        )


@dataclass(frozen=True)
class RefreshFacts:
    """What is known of the stored refresh token; None leaves that fact as the row has it."""

    expires_ms: int | None = None
    issued_ms: int | None = None
    rotated_ms: int | None = None

    def fields(self) -> dict[str, Any]:
        named = {
            "refreshExpiresOn": self.expires_ms,
            "refreshIssuedOn": self.issued_ms,
            "rotatedOn": self.rotated_ms,
        }
        return {k: v for k, v in named.items() if v is not None}


class TokenRowStore:
    def __init__(self, leases: LeaseStore) -> None:
        self._leases = leases

    async def read(self) -> TokenRow | None:
        row = await self._leases.read(TOKEN_LEASE)
        return None if row is None else TokenRow.from_lease(row)

    async def take_lease(self, seen: TokenRow | None, holder: str, seconds: float) -> bool:
        """The refresh lease, over the row as last read (a changed row means: read again)."""
        return await self._leases.take_over(
            TOKEN_LEASE,
            seen.lease if seen else None,
            holder,
            seconds,
            initial={"generation": 0, "expiresOn": 0, "issuedOn": 0},
        )

    async def release_lease(self, holder: str) -> None:
        await self._leases.release(TOKEN_LEASE, holder)

    async def publish(
        self,
        seen: TokenRow | None,
        *,
        generation: int,
        issued_ms: int,
        expires_ms: int,
        endpoint_url: str,
        refresh: RefreshFacts,
    ) -> None:
        """A new token's facts, releasing the lease in the same write."""
        fields: dict[str, Any] = {
            "generation": generation,
            "issuedOn": issued_ms,
            "expiresOn": expires_ms,
            "endpointUrl": endpoint_url,
            **TOKEN_LEASE.freed(),
            **refresh.fields(),
        }
        # Conditional on the row read after the refresh; if another instance wrote meanwhile
        # (it took over an expired lease), the newest token still wins: write it regardless.
        if seen is None or not await self._leases.update(TOKEN_LEASE, fields, seen.lease.etag):
            await self._leases.merge(TOKEN_LEASE, fields)

    async def move_endpoint(self, generation: int, endpoint_url: str) -> None:
        """Record a 308 move for the token of `generation` (a newer token already knows)."""
        row = await self.read()
        if row is not None and row.generation == generation:
            await self._leases.update(TOKEN_LEASE, {"endpointUrl": endpoint_url}, row.lease.etag)

    async def refresh_token_changed(self, refresh_expires_ms: int, now_ms: int) -> None:
        """A new refresh token (PIN onboarding): the current access token is no longer used."""
        fields: dict[str, Any] = {
            "expiresOn": 0,
            "issuedOn": 0,
            **RefreshFacts(refresh_expires_ms, now_ms, 0).fields(),
        }
        if await self.read() is None:
            await self._leases.insert(TOKEN_LEASE, {**fields, "generation": 0})
        else:
            await self._leases.merge(TOKEN_LEASE, fields)
