// Log search alert rules on the bridge's own metrics. The app exports them with the Azure
// Monitor OpenTelemetry distro; OpenTelemetry custom metrics land in Application Insights'
// `customMetrics` table (name, value, valueSum, customDimensions). A counter row carries the
// increments of one export interval (valueSum); a gauge row carries its last reading (value).
// Each query selects the metric's rows; the rule aggregates a column of them per window
// (metricMeasureColumn + timeAggregation), which also lets a rule require several failing windows.
// docs/runbook.md ("Alerts") says what each one means and what to do.

param location string = resourceGroup().location
param tags object = {}
param applicationInsightsName string

@description('Resource id of an existing action group to notify. Empty: alerts show in the portal only.')
param actionGroupId string = ''

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

var actions = empty(actionGroupId) ? {} : {
  actionGroups: [
    actionGroupId
  ]
}

// One failing period in the window is enough unless a rule says otherwise.
var onePeriod = {
  numberOfEvaluationPeriods: 1
  minFailingPeriodsToAlert: 1
}

// An inbox event reached the attempt limit (INBOX_MAX_ATTEMPTS) and went dead.
resource deadEvent 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'kb-dead-event-${applicationInsightsName}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Kaizala Bridge: a dead inbox event'
    description: 'kaizala_bridge.events with outcome=dead: an event exhausted its attempts. Runbook: Dead and orphan events: replay.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: 'customMetrics | where name == "kaizala_bridge.events" | where tostring(customDimensions.outcome) == "dead"'
          metricMeasureColumn: 'valueSum'
          timeAggregation: 'Total'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: onePeriod
        }
      ]
    }
    autoMitigate: false
    actions: actions
  }
}

// The connector's refresh token expires within 30 days and no rotation has replaced it.
resource refreshTokenExpiring 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'kb-refresh-token-expiring-${applicationInsightsName}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Kaizala Bridge: refresh token expires within 30 days'
    description: 'kaizala_bridge.refresh_token_days_left below 30: onboard the connector again (PIN flow). Runbook: Refresh-token rotation.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    // The gauge is read while a process lives; the hourly renewal timer starts one at least
    // hourly, so a 6-hour window always holds readings.
    evaluationFrequency: 'PT1H'
    windowSize: 'PT6H'
    criteria: {
      allOf: [
        {
          query: 'customMetrics | where name == "kaizala_bridge.refresh_token_days_left"'
          metricMeasureColumn: 'value'
          timeAggregation: 'Minimum'
          operator: 'LessThan'
          threshold: 30
          failingPeriods: onePeriod
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

// Kaizala disabled one of the bridge's webhook subscriptions (or it is missing).
resource webhookDisabled 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'kb-webhook-disabled-${applicationInsightsName}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Kaizala Bridge: a webhook subscription is disabled'
    description: 'kaizala_bridge.webhooks_disabled above 0: responses stop arriving for that group. Runbook: A disabled webhook.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        {
          query: 'customMetrics | where name == "kaizala_bridge.webhooks_disabled"'
          metricMeasureColumn: 'value'
          timeAggregation: 'Maximum'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: onePeriod
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

// Kaizala answered 429 in each of three consecutive 5-minute periods: sustained, not a burst
// (the bridge's own budget, KAIZALA_CALLS_PER_MINUTE, should keep it at zero).
resource kaizalaThrottled 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'kb-kaizala-throttled-${applicationInsightsName}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Kaizala Bridge: Kaizala 429s sustained for 15 minutes'
    description: 'kaizala_bridge.kaizala_throttled in each of three 5-minute periods: lower KAIZALA_CALLS_PER_MINUTE or look for another client of the same connector. Runbook: Alerts.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: 'customMetrics | where name == "kaizala_bridge.kaizala_throttled"'
          metricMeasureColumn: 'valueSum'
          timeAggregation: 'Total'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 3
            minFailingPeriodsToAlert: 3
          }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

output alertRuleIds array = [
  deadEvent.id
  refreshTokenExpiring.id
  webhookDisabled.id
  kaizalaThrottled.id
]
