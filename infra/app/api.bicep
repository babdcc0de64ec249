// The bridge's function app: a Flex Consumption plan (FC1, Linux) and a Python 3.11 app that
// runs as the user-assigned identity. Every app setting the code reads in Azure is set here, in
// the one `appsettings` block below; infra/settings-policy.json says which names belong here.

param name string
param planName string
param location string = resourceGroup().location
param tags object = {}

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string
@description('Client id of that identity (AzureWebJobsStorage__clientId, Key Vault, Dataverse).')
param identityClientId string

param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param keyVaultName string
param keyVaultUri string

// Flex Consumption accepts a maximumInstanceCount from 40 to 1000.
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Always-ready instances of the HTTP scale group (0: none).')
@minValue(0)
@maxValue(10)
param alwaysReadyHttpInstances int

// Bridge settings (shared/config.py SETTINGS); defaults live in main.bicep.
param tableNamePrefix string
param kaizalaApiRoot string
param kaizalaAllowedHosts string
param kaizalaCallsPerMinute int
param kaizalaThrottleWindowSeconds int
param kaizalaRenewSchedule string
param callbackTokenGraceHours int
param opportunitySurveyTemplate string
param opportunitySurveyGroupId string
param kaizalaWebhookGroups string
param dataverseUrl string
param dataverseActivitySet string
@secure()
param responseForwardUrl string
param retentionDays int
param inboxMaxAttempts int
param backfillSchedule string
param backfillDays int
param reminderMinHours int
param mediaMaxBytes int
param opportunityGroupMode string
param opportunityGroupExtraMembers string
param dataverseCircuitFailures int
param dataverseCircuitOpenSeconds int
param inboxDrainConcurrency int
param dataverseRequestsPer5Minutes int

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// RESPONSE_FORWARD_URL is a Power Automate trigger URL whose query carries a signature: it lives
// in Key Vault and the app setting is a Key Vault reference that the platform resolves with the
// app's identity (keyVaultReferenceIdentity; Key Vault Secrets Officer in app/rbac.bicep includes
// get). Versionless SecretUri: a new secret version is picked up without a re-deploy.
var responseForwardUrlSecretName = 'response-forward-url'
var responseForwardUrlReference = empty(responseForwardUrl) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${responseForwardUrlSecretName}/)'

resource responseForwardUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(responseForwardUrl)) {
  // checkov:skip=CKV_AZURE_114: contentType is set below; checkov's bicep check does not read the properties of a conditional (`if`) resource.
  // checkov:skip=CKV_AZURE_41: the Power Automate trigger URL has no expiry of its own; an expiry date here would silently stop the forwarding. It is replaced when the flow is re-created.
  parent: vault
  name: responseForwardUrlSecretName
  properties: {
    value: responseForwardUrl
    contentType: 'text/uri-list'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: availability-zone support for Flex Consumption depends on the region; the bridge retries through its inbox/outbox tables, so a zonal outage delays work but does not lose it.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: the Kaizala webhook and the Dynamics/Power Automate calls come from the internet; requests are authenticated by function/admin keys and, for the webhook, the Kaizala callback token.
  // checkov:skip=CKV_AZURE_17: Kaizala and Dataverse do not present client certificates.
  // checkov:skip=CKV_AZURE_212: numberOfWorkers is a dedicated-plan setting; Flex Consumption scales per event, with `alwaysReady` instances for the HTTP group (alwaysReadyHttpInstances) instead.
  // checkov:skip=CKV_AZURE_213: /api/health checks table storage and answers 503 when one is down; platform health check would then recycle instances for an outage outside them. Probe it with an availability test instead.
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references resolve with the user-assigned identity (the default would be a
    // system-assigned identity, which this app does not have).
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: 2048
        maximumInstanceCount: maximumInstanceCount
        // Kaizala's webhook validation GET must answer within 5 s; a warm HTTP instance keeps
        // subscription (re)creation off a cold start. Billed while idle: 0 turns it off.
        alwaysReady: alwaysReadyHttpInstances > 0 ? [
          {
            name: 'http'
            instanceCount: alwaysReadyHttpInstances
          }
        ] : []
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Nested `resource` blocks are written as top-level resources with `parent:` because the
// offline parser (pycep, used by checkov) keeps only one nested child per resource.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13: this is the appsettings collection, not authsettingsV2; App Service Authentication would reject Kaizala webhook calls, which carry a callback token checked by the app.
  // checkov:skip=CKV_AZURE_63: appsettings collection, not the web/logs config; App Service HTTP logs do not exist on Flex Consumption (telemetry goes to Application Insights).
  // checkov:skip=CKV_AZURE_65: appsettings collection; detailed IIS error pages do not apply to a Linux Flex Consumption app.
  // checkov:skip=CKV_AZURE_66: appsettings collection; failed request tracing is an IIS feature that does not apply to a Linux Flex Consumption app.
  // checkov:skip=CKV_AZURE_80: appsettings collection; the app is Python, no .NET Framework.
  // checkov:skip=CKV_AZURE_88: appsettings collection; Flex Consumption has no Azure Files content share (the package is in a blob container).
  // checkov:skip=CKV_AZURE_222: appsettings collection; public access is needed for the Kaizala webhook (see the function app).
  parent: functionApp
  name: 'appsettings'
  dependsOn: [
    responseForwardUrlSecret
  ]
  properties: {
    // Functions host storage through the managed identity (shared keys are off).
    AzureWebJobsStorage__accountName: storage.name
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
    // Telemetry with Entra ID auth (the component has local auth disabled).
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    // The worker hands the host's trace context to each invocation, so the app's spans
    // (shared/telemetry.py) join the host's operation. Not PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY:
    // the app calls configure_azure_monitor itself, and both would configure it twice.
    PYTHON_ENABLE_OPENTELEMETRY: 'true'
    // Bridge settings.
    KEY_VAULT_URL: keyVaultUri
    TABLE_NAME_PREFIX: tableNamePrefix
    KAIZALA_API_ROOT: kaizalaApiRoot
    KAIZALA_ALLOWED_HOSTS: kaizalaAllowedHosts
    KAIZALA_CALLS_PER_MINUTE: string(kaizalaCallsPerMinute)
    KAIZALA_THROTTLE_WINDOW_SECONDS: string(kaizalaThrottleWindowSeconds)
    KAIZALA_RENEW_SCHEDULE: kaizalaRenewSchedule
    CALLBACK_TOKEN_GRACE_HOURS: string(callbackTokenGraceHours)
    OPPORTUNITY_SURVEY_TEMPLATE: opportunitySurveyTemplate
    OPPORTUNITY_SURVEY_GROUP_ID: opportunitySurveyGroupId
    KAIZALA_WEBHOOK_GROUPS: kaizalaWebhookGroups
    WEBHOOK_CALLBACK_URL: 'https://${functionApp.properties.defaultHostName}/api/kaizala/webhook'
    DATAVERSE_URL: dataverseUrl
    DATAVERSE_ACTIVITY_SET: dataverseActivitySet
    RESPONSE_FORWARD_URL: responseForwardUrlReference
    RETENTION_DAYS: string(retentionDays)
    INBOX_MAX_ATTEMPTS: string(inboxMaxAttempts)
    BACKFILL_SCHEDULE: backfillSchedule
    BACKFILL_DAYS: string(backfillDays)
    REMINDER_MIN_HOURS: string(reminderMinHours)
    MEDIA_MAX_BYTES: string(mediaMaxBytes)
    OPPORTUNITY_GROUP_MODE: opportunityGroupMode
    OPPORTUNITY_GROUP_EXTRA_MEMBERS: opportunityGroupExtraMembers
    DATAVERSE_CIRCUIT_FAILURES: string(dataverseCircuitFailures)
    DATAVERSE_CIRCUIT_OPEN_SECONDS: string(dataverseCircuitOpenSeconds)
    INBOX_DRAIN_CONCURRENCY: string(inboxDrainConcurrency)
    DATAVERSE_REQUESTS_PER_5_MINUTES: string(dataverseRequestsPer5Minutes)
  }
}

// azd deploys with Entra ID tokens: basic (user/password) publishing stays off.
// ARM rejects these policies without a location (the AVM web/site module sets it too).
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  location: location
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  location: location
  properties: {
    allow: false
  }
}

output name string = functionApp.name
output id string = functionApp.id
output defaultHostName string = functionApp.properties.defaultHostName
output webhookCallbackUrl string = 'https://${functionApp.properties.defaultHostName}/api/kaizala/webhook'
