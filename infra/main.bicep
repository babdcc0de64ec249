// Kaizala Bridge on Azure: azd entry point (`azd up`). Creates one resource group holding a
// Flex Consumption function app, its storage account, Key Vault, monitoring and identity.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; part of every resource name and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Region of every resource; it must offer the Flex Consumption plan (`az functionapp list-flexconsumption-locations`).')
// The regions of the official azd Flex Consumption quickstart (Azure-Samples/
// functions-quickstart-python-http-azd, infra/main.bicep), without its canary region eastus2euap.
// Microsoft adds regions over time: extend the list from `az functionapp list-flexconsumption-locations`.
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the deploying user (azd: AZURE_PRINCIPAL_ID); granted Key Vault Secrets Officer to seed secrets. Empty: none.')
param principalId string = ''

@description('Kind of principal principalId is (azd: AZURE_PRINCIPAL_TYPE; ServicePrincipal when `azd up` runs from a pipeline).')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param operatorPrincipalType string = 'User'

@description('Resource group name; default rg-<environmentName>.')
param resourceGroupName string = ''

@description('Flex Consumption scale-out limit: the plan accepts 40 to 1000. Kaizala allows about 100 calls a minute for the whole app, so the smallest limit is enough.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Always-ready instances of the HTTP group (Flex `alwaysReady` name `http`): Kaizala gives the webhook validation handshake 5 seconds, which a cold start can miss. 0: scale from zero (no baseline cost).')
@minValue(0)
@maxValue(10)
param alwaysReadyHttpInstances int = 1

@description('Resource id of an existing action group the alert rules notify. Empty: the alerts fire in the portal only.')
param alertActionGroupId string = ''

@description('Key Vault public network access (Disabled needs a private endpoint and VNet integration, not part of this template).')
@allowed([
  'Enabled'
  'Disabled'
])
param keyVaultPublicNetworkAccess string = 'Enabled'

// Bridge settings; each default equals the one in shared/config.py SETTINGS.
@description('TABLE_NAME_PREFIX')
param tableNamePrefix string = 'kb'
@description('KAIZALA_API_ROOT')
param kaizalaApiRoot string = 'https://api.kaiza.la/v1'
@description('KAIZALA_ALLOWED_HOSTS')
param kaizalaAllowedHosts string = '*.kaiza.la'
@description('KAIZALA_CALLS_PER_MINUTE')
@minValue(1)
@maxValue(100)
param kaizalaCallsPerMinute int = 90
@description('KAIZALA_THROTTLE_WINDOW_SECONDS')
@minValue(1)
@maxValue(3600)
param kaizalaThrottleWindowSeconds int = 60
@description('KAIZALA_RENEW_SCHEDULE')
param kaizalaRenewSchedule string = '0 0 * * * *'
@description('CALLBACK_TOKEN_GRACE_HOURS')
@minValue(0)
@maxValue(720)
param callbackTokenGraceHours int = 48
@description('OPPORTUNITY_SURVEY_TEMPLATE')
param opportunitySurveyTemplate string = 'opportunity-survey'
@description('OPPORTUNITY_SURVEY_GROUP_ID')
param opportunitySurveyGroupId string = ''
@description('KAIZALA_WEBHOOK_GROUPS')
param kaizalaWebhookGroups string = ''
@description('DATAVERSE_URL')
param dataverseUrl string = ''
@description('DATAVERSE_ACTIVITY_SET')
@allowed([
  'tasks'
  'phonecalls'
])
param dataverseActivitySet string = 'tasks'
@description('RESPONSE_FORWARD_URL (a Power Automate trigger URL carries a signature: secret)')
@secure()
param responseForwardUrl string = ''
@description('RETENTION_DAYS')
@minValue(3)
@maxValue(3650)
param retentionDays int = 30
@description('INBOX_MAX_ATTEMPTS')
@minValue(1)
@maxValue(100)
param inboxMaxAttempts int = 8
// issue 10: backfill
@description('BACKFILL_SCHEDULE')
param backfillSchedule string = '0 35 * * * *'
@description('BACKFILL_DAYS')
@minValue(1)
@maxValue(365)
param backfillDays int = 7
// issue 10: reminders and media
@description('REMINDER_MIN_HOURS')
@minValue(1)
@maxValue(720)
param reminderMinHours int = 12
@description('MEDIA_MAX_BYTES')
@minValue(1024)
@maxValue(52428800)
param mediaMaxBytes int = 10485760
// issue 10: groups
@description('OPPORTUNITY_GROUP_MODE')
@allowed([
  'shared'
  'per-opportunity'
])
param opportunityGroupMode string = 'shared'
@description('OPPORTUNITY_GROUP_EXTRA_MEMBERS')
param opportunityGroupExtraMembers string = ''
// issue 12: drain
@description('DATAVERSE_CIRCUIT_FAILURES')
@minValue(1)
@maxValue(100)
param dataverseCircuitFailures int = 5
@description('DATAVERSE_CIRCUIT_OPEN_SECONDS')
@minValue(1)
@maxValue(3600)
param dataverseCircuitOpenSeconds int = 5
@description('INBOX_DRAIN_CONCURRENCY')
@minValue(1)
@maxValue(52)
param inboxDrainConcurrency int = 16
@description('DATAVERSE_REQUESTS_PER_5_MINUTES')
@minValue(1)
@maxValue(1000000)
param dataverseRequestsPer5Minutes int = 5400

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-kb-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}'

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'core/security/user-assigned-identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-kb-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'core/monitor/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-kb-${resourceToken}'
    applicationInsightsName: 'appi-kb-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'core/storage/storage-account.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'stkb${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module keyVault 'core/security/key-vault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-kb-${resourceToken}'
    location: location
    tags: tags
    publicNetworkAccess: keyVaultPublicNetworkAccess
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityPrincipalId: identity.outputs.principalId
    operatorPrincipalId: principalId
    operatorPrincipalType: operatorPrincipalType
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-kb-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    keyVaultUri: keyVault.outputs.uri
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    tableNamePrefix: tableNamePrefix
    kaizalaApiRoot: kaizalaApiRoot
    kaizalaAllowedHosts: kaizalaAllowedHosts
    kaizalaCallsPerMinute: kaizalaCallsPerMinute
    kaizalaThrottleWindowSeconds: kaizalaThrottleWindowSeconds
    kaizalaRenewSchedule: kaizalaRenewSchedule
    callbackTokenGraceHours: callbackTokenGraceHours
    opportunitySurveyTemplate: opportunitySurveyTemplate
    opportunitySurveyGroupId: opportunitySurveyGroupId
    kaizalaWebhookGroups: kaizalaWebhookGroups
    dataverseUrl: dataverseUrl
    dataverseActivitySet: dataverseActivitySet
    responseForwardUrl: responseForwardUrl
    retentionDays: retentionDays
    inboxMaxAttempts: inboxMaxAttempts
    backfillSchedule: backfillSchedule
    backfillDays: backfillDays
    reminderMinHours: reminderMinHours
    mediaMaxBytes: mediaMaxBytes
    opportunityGroupMode: opportunityGroupMode
    opportunityGroupExtraMembers: opportunityGroupExtraMembers
    dataverseCircuitFailures: dataverseCircuitFailures
    dataverseCircuitOpenSeconds: dataverseCircuitOpenSeconds
    inboxDrainConcurrency: inboxDrainConcurrency
    dataverseRequestsPer5Minutes: dataverseRequestsPer5Minutes
  }
  // The app starts with its identity already allowed into storage, tables and Key Vault.
  dependsOn: [
    rbac
  ]
}

module alerts 'monitoring/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    actionGroupId: alertActionGroupId
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output FUNCTION_APP_DEFAULT_HOST_NAME string = api.outputs.defaultHostName
// issue 12: connector. The custom connector's `host` (connector/README.md):
// python -m devtools.openapi --connector connector/ --host "$(azd env get-value SERVICE_API_HOST)"
output SERVICE_API_HOST string = api.outputs.defaultHostName
output WEBHOOK_CALLBACK_URL string = api.outputs.webhookCallbackUrl
output KEY_VAULT_URL string = keyVault.outputs.uri
output KEY_VAULT_NAME string = keyVault.outputs.name
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output API_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output API_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
