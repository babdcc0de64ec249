"""The one Azure AD credential of the process (managed identity in Azure, developer login locally).

Built by the composition root only when something needs Entra ID (identity-based storage, Key
Vault, Dataverse); a local run with a connection string and the simulators never builds it.
"""

from __future__ import annotations

from azure.core.credentials_async import AsyncTokenCredential


def build_credential(client_id: str | None) -> AsyncTokenCredential:
    """DefaultAzureCredential, pinned to the user-assigned identity when its client id is set."""
    from azure.identity.aio import DefaultAzureCredential  # imported late: costly, often unused

    if client_id:
        return DefaultAzureCredential(managed_identity_client_id=client_id)
    return DefaultAzureCredential()
