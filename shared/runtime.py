"""Per-process singletons, built lazily on first use and reused by every invocation.

Azure reuses a worker process for many invocations, so clients (HTTP pools, table clients,
credentials) are created once here and never per request. Nothing is built at import time:
settings errors surface on first use, naming the setting, and tests can swap the environment.
"""

from __future__ import annotations

import asyncio
import logging
from functools import cached_property
from typing import TYPE_CHECKING

from shared.adapters.kaizala import (
    KaizalaAuthClient,
    KaizalaClient,
    KaizalaTransport,
    build_http_client,
)
from shared.adapters.secrets import SecretStore, SeededSecretStore, build_secret_store
from shared.adapters.tables import TableStore
from shared.clock import Clock, wall
from shared.config import Settings, get_settings
from shared.logsafe import install_url_redaction
from shared.services.outbound import Outbound
from shared.services.tokens import TokenManager
from shared.stores.actions import ActionStore, OutboxStore
from shared.stores.budget import Budget
from shared.stores.correlations import CorrelationStore
from shared.stores.groups import GroupStore
from shared.stores.inbox import InboxStore
from shared.stores.kaizala_token import TokenRowStore
from shared.stores.leases import LeaseStore
from shared.stores.summary_due import SummaryDueStore

if TYPE_CHECKING:
    import httpx
    from azure.core.credentials_async import AsyncTokenCredential

    from shared.adapters.dataverse import DataverseClient, DataverseGuard
    from shared.adapters.forward import CallbackPoster
    from shared.adapters.kaizala import AccessTokenResponse
    from shared.services.callback_tokens import CallbackTokens
    from shared.services.console import ConsoleDeps
    from shared.services.flow_subscriptions import FlowResponses
    from shared.services.groups import GroupService
    from shared.services.inbound import InboundDeps
    from shared.services.inbound.backfill import Backfill
    from shared.services.opportunity_groups import OpportunityGroups
    from shared.services.outbound.media import MediaUploads
    from shared.services.outbound.reminders import Reminders


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        kaizala_transport: httpx.AsyncBaseTransport | None = None,
        secret_store: SecretStore | None = None,
        clock: Clock = wall,
    ) -> None:
        self.settings = settings
        self._kaizala_transport = kaizala_transport
        self._secret_store = secret_store
        self.clock = clock  # injectable so tests can move time (token expiry, back-off)
        # httpx logs request URLs at INFO; a forward URL is signed in its query string.
        install_url_redaction()
        # One INFO line per request would include every table call (Tables and Key Vault go
        # over httpx): the adapters write their own call lines, so httpx speaks at WARNING
        # unless its level was set on purpose.
        if logging.getLogger("httpx").level == logging.NOTSET:
            logging.getLogger("httpx").setLevel(logging.WARNING)

    @cached_property
    def credential(self) -> AsyncTokenCredential:
        # Only built when something needs Azure AD (managed-identity storage, Key Vault,
        # Dataverse); local runs with a connection string never touch it.
        from shared.adapters.identity import build_credential

        return build_credential(self.settings.storage.client_id)

    @cached_property
    def tables(self) -> TableStore:
        storage = self.settings.storage
        credential = None if storage.connection_string else self.credential
        return TableStore.from_settings(storage, self.settings.table_prefix, credential)

    @cached_property
    def secrets(self) -> SecretStore:
        inner = self._secret_store
        if inner is None:
            needs_aad = self.settings.key_vault_url is not None
            credential = self.credential if needs_aad else None
            inner = build_secret_store(self.settings, credential, self.clock)
        return SeededSecretStore(inner, self.settings, self.clock)

    @cached_property
    def kaizala_http(self) -> KaizalaTransport:
        # One pool, one limiter and one retry rule set for both Kaizala clients below.
        http = build_http_client(self._kaizala_transport)
        return KaizalaTransport.from_settings(self.settings, http, clock=self.clock)

    @cached_property
    def kaizala_auth(self) -> KaizalaAuthClient:
        # The token service needs no access token, so the manager can fetch through it.
        return KaizalaAuthClient(self.kaizala_http)

    async def _fetch_access_token(
        self, application_id: str, application_secret: str, refresh_token: str
    ) -> AccessTokenResponse:
        # The Kaizala HTTP client is built on the first fetch, not with the token manager:
        # GET /api/health reads the token state only, and building an httpx client imports
        # httpcore and loads the CA bundle (bench/README.md, cold start).
        return await self.kaizala_auth.fetch_access_token(
            application_id, application_secret, refresh_token
        )

    @cached_property
    def tokens(self) -> TokenManager:
        return TokenManager(
            self._fetch_access_token,
            self.secrets,
            TokenRowStore(self.leases),
            clock=self.clock,
        )

    @cached_property
    def kaizala(self) -> KaizalaClient:
        return KaizalaClient(self.kaizala_http, self.tokens, auth=self.kaizala_auth)

    @cached_property
    def leases(self) -> LeaseStore:
        return LeaseStore(self.tables, self.clock)

    @cached_property
    def correlations(self) -> CorrelationStore:
        return CorrelationStore(self.tables)

    @cached_property
    def inbox_store(self) -> InboxStore:
        return InboxStore(self.tables)

    @cached_property
    def summary_due(self) -> SummaryDueStore:
        return SummaryDueStore(self.tables)

    @cached_property
    def actions_store(self) -> ActionStore:
        return ActionStore(self.tables)

    @cached_property
    def outbox(self) -> OutboxStore:
        return OutboxStore(self.tables)

    @cached_property
    def budget(self) -> Budget:
        s = self.settings
        return Budget(
            self.tables,
            s.kaizala_calls_per_minute,
            s.kaizala_throttle_window_seconds,
            clock=self.clock,
        )

    @cached_property
    def outbound(self) -> Outbound:
        return Outbound(
            actions=self.actions_store,
            outbox=self.outbox,
            correlations=self.correlations,
            inbox=self.inbox_store,
            leases=self.leases,
            budget=self.budget,
            kaizala=self.kaizala,
            retention_days=self.settings.retention_days,
            clock=self.clock,
            ready=self.tokens.current,
            groups=self.groups,
        )

    @cached_property
    def groups(self) -> GroupStore:
        return GroupStore(self.tables)

    @cached_property
    def group_service(self) -> GroupService:
        from shared.services.groups import GroupService

        return GroupService(
            self.groups,
            self.kaizala,
            self.callbacks,
            self.settings,
            clock=self.clock,
            ready=self.tokens.current,
        )

    @cached_property
    def opportunity_groups(self) -> OpportunityGroups:
        from shared.services.opportunity_groups import OpportunityGroups

        # Dataverse is built on first use: shared mode never needs DATAVERSE_URL here.
        return OpportunityGroups(
            self.group_service, self.groups, lambda: self.dataverse, self.settings
        )

    @cached_property
    def dataverse(self) -> DataverseClient:
        # The static token (simulator; DataverseClient refuses it unless the URL is loopback),
        # else managed identity through the shared credential. ConfigError names DATAVERSE_URL
        # on first use when it is unset.
        from shared.adapters.dataverse import DataverseClient, build_http_client

        self.settings.require("DATAVERSE_URL")
        self.dataverse_http = build_http_client()
        credential = None if self.settings.dataverse_static_token else self.credential
        return DataverseClient.from_settings(
            self.settings,
            self.dataverse_http,
            credential,
            clock=self.clock,
            guard=self.dataverse_guard,
        )

    @cached_property
    def dataverse_guard(self) -> DataverseGuard:
        # issue 12: drain. One circuit and one request window per process, shared by every
        # Dataverse client built here: the webhook's inline attempts and the sweeper.
        from shared.adapters.dataverse import DataverseGuard
        from shared.domain.circuit import Circuit, RequestWindow

        return DataverseGuard(
            Circuit(
                self.settings.dataverse_circuit_failures,
                self.settings.dataverse_circuit_open_seconds,
                clock=self.clock,
            ),
            RequestWindow(self.settings.dataverse_requests_per_5_minutes, clock=self.clock),
            asyncio.sleep,
        )

    @cached_property
    def callbacks(self) -> CallbackTokens:
        from shared.services.callback_tokens import CallbackTokens

        return CallbackTokens(self.secrets, self.settings.callback_token_grace_hours)

    # issue 12: connector. One pool for every callback (RESPONSE_FORWARD_URL is the `static`
    # subscription), built on the first delivery.
    @cached_property
    def callback_poster(self) -> CallbackPoster:
        from shared.adapters.forward import CallbackPoster

        return CallbackPoster()

    @cached_property
    def flows(self) -> FlowResponses:
        from shared.services.flow_subscriptions import FlowResponses
        from shared.stores.flow_deliveries import FlowDeliveryStore
        from shared.stores.flow_subscriptions import FlowSubscriptionStore

        s = self.settings
        return FlowResponses(
            FlowSubscriptionStore(self.tables),
            FlowDeliveryStore(self.tables),
            lambda: self.callback_poster,
            s.response_forward_url,
            max_attempts=s.inbox_max_attempts,
            retention_days=s.retention_days,
            clock=self.clock,
        )

    @cached_property
    def inbound(self) -> InboundDeps:
        from shared.services.inbound import InboundDeps

        return InboundDeps(
            inbox=self.inbox_store,
            correlations=self.correlations,  # one cache per process, shared with outbound
            settings=self.settings,
            callbacks=self.callbacks,
            dataverse=lambda: self.dataverse,
            flows=self.flows,
            summary_due=self.summary_due,
            groups=self.groups,
            clock=self.clock,
            circuit=self.dataverse_guard.circuit,
            window=self.dataverse_guard.window,
        )

    @cached_property
    def backfill(self) -> Backfill:
        # issue 10: backfill. The inbound half plus what it reads with: the sent actions, the
        # outbox (sends first) and the shared budget.
        from shared.services.inbound.backfill import Backfill

        return Backfill(
            self.inbound,
            actions=self.actions_store,
            outbox=self.outbox,
            budget=self.budget,
            kaizala=self.kaizala,
            days=self.settings.backfill_days,
            clock=self.clock,
        )

    # issue 10: reminders and media
    @cached_property
    def reminders(self) -> Reminders:
        from shared.services.outbound.reminders import Reminders
        from shared.stores.actions import ReminderSlots

        return Reminders(
            self.actions_store,
            ReminderSlots(self.tables),
            self.budget,
            self.kaizala,
            min_hours=self.settings.reminder_min_hours,
            clock=self.clock,
            ready=self.tokens.current,
        )

    @cached_property
    def media(self) -> MediaUploads:
        from shared.services.outbound.media import MediaUploads
        from shared.stores.media import MediaStore

        return MediaUploads(
            MediaStore(self.tables),
            self.budget,
            self.kaizala,
            retention_days=self.settings.retention_days,
            clock=self.clock,
        )

    @cached_property
    def console(self) -> ConsoleDeps:
        # issue 12: console. What the operator console's read-only admin routes read.
        from shared.services.console import ConsoleDeps

        return ConsoleDeps(
            settings=self.settings,
            clock=self.clock,
            actions=self.actions_store,
            outbox=self.outbox,
            inbox=self.inbox_store,
            summary_due=self.summary_due,
            budget=self.budget,
            tokens=self.tokens,
            groups=self.groups,
            kaizala=self.kaizala,
        )

    async def aclose(self) -> None:
        closers = []
        if "callback_poster" in self.__dict__:
            closers.append(self.callback_poster.aclose())
        if "dataverse" in self.__dict__:
            closers.append(self.dataverse.aclose())
            closers.append(self.dataverse_http.aclose())
        if "tables" in self.__dict__:
            closers.append(self.tables.close())
        if "kaizala_http" in self.__dict__:
            closers.append(self.kaizala_http.aclose())
        if "secrets" in self.__dict__:
            closers.append(self.secrets.close())
        if "credential" in self.__dict__:
            closers.append(self.credential.close())
        await asyncio.gather(*closers, return_exceptions=True)


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime(get_settings())
    return _runtime


async def close_runtime() -> None:
    """Close the process runtime's clients, if one was built (a host shutting down)."""
    global _runtime
    runtime, _runtime = _runtime, None
    if runtime is not None:
        await runtime.aclose()


def set_runtime(runtime: Runtime | None) -> None:
    """Install a runtime (tests, the local host); None forgets it."""
    global _runtime
    _runtime = runtime
