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
param keyVaultUri string

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

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

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
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
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }

  resource appSettings 'config' = {
    name: 'appsettings'
    properties: {
      // Functions host storage through the managed identity (shared keys are off).
      AzureWebJobsStorage__accountName: storage.name
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
      // Telemetry with Entra ID auth (the component has local auth disabled).
      APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
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
      RESPONSE_FORWARD_URL: responseForwardUrl
      RETENTION_DAYS: string(retentionDays)
      INBOX_MAX_ATTEMPTS: string(inboxMaxAttempts)
    }
  }

  // azd deploys with Entra ID tokens: basic (user/password) publishing stays off.
  resource ftpCredentials 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    properties: {
      allow: false
    }
  }

  resource scmCredentials 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    properties: {
      allow: false
    }
  }
}

output name string = functionApp.name
output id string = functionApp.id
output defaultHostName string = functionApp.properties.defaultHostName
output webhookCallbackUrl string = 'https://${functionApp.properties.defaultHostName}/api/kaizala/webhook'
