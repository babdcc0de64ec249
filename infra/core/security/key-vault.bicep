// Key Vault for the bridge's secrets: the Kaizala application id (`kaizala-application-id`),
// secret, refresh/access tokens and webhook callback tokens. Access is RBAC only (no access
// policies); the function app's identity gets Key Vault Secrets Officer in app/rbac.bicep.

param name string
param location string = resourceGroup().location
param tags object = {}

@description('Public network access to the vault. Enabled by default: a Flex Consumption app without VNet integration reaches the vault over its public endpoint.')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

@description('Log Analytics workspace that receives the vault audit log.')
param logAnalyticsWorkspaceId string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: a firewall needs fixed client addresses or a private endpoint; Flex Consumption outbound addresses are shared and not fixed without VNet integration. Access is RBAC-only with audit logs to Log Analytics.
  // checkov:skip=CKV_AZURE_189: public network access is the publicNetworkAccess parameter (default Enabled for the same reason as CKV_AZURE_109); set Disabled together with a private endpoint and VNet integration.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource auditLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: vault
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
