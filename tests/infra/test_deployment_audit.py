"""Issue 12's deployment audit, pinned: what ARM, Flex Consumption and the runbook need from infra/.

Same approach as test_infra_settings.py (its comment- and string-aware Bicep scanner): each check
runs on the real files and on mutated copies, so each can fail. The alert rules are also checked
on pycep's parse (the parser checkov uses) through infra/validate.py in .venv-infra when present.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from tests.infra.test_infra_settings import ROOT, Deployment, entries, literal

API, RBAC, MAIN = "app/api.bicep", "app/rbac.bicep", "main.bicep"
ALERTS = "monitoring/alerts.bicep"
FLEX_MIN_INSTANCES, FLEX_MAX_INSTANCES = 40, 1000
TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
# metric name -> what its rule must select (the telemetry slice's contract names)
ALERT_METRICS = {
    "kaizala_bridge.events": 'tostring(customDimensions.outcome) == "dead"',
    "kaizala_bridge.refresh_token_days_left": "",
    "kaizala_bridge.webhooks_disabled": "",
    "kaizala_bridge.kaizala_throttled": "",
}


def _decorator_value(decorators: tuple[str, ...], name: str) -> str | None:
    for d in decorators:
        m = re.fullmatch(rf"@{name}\((.*)\)", d, re.S)
        if m:
            return m.group(1).strip()
    return None


def check_publishing_policies(dep: Deployment) -> list[str]:
    """ARM rejects basicPublishingCredentialsPolicies without a location (AVM sets it too)."""
    found = dep.resources("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    names = sorted(literal(d.body.get("name", "")) for _, d in found)
    problems = [] if names == ["ftp", "scm"] else [f"publishing policies are {names}"]
    for file, decl in found:
        if "location" not in decl.body:
            problems.append(f"{file} {decl.name}: no location")
        if entries(decl.body["properties"]).get("allow") != "false":
            problems.append(f"{file} {decl.name}: basic publishing credentials allowed")
    return problems


def check_instance_limits(dep: Deployment) -> list[str]:
    """maximumInstanceCount within Flex Consumption's 40..1000 wherever it is a parameter."""
    problems = []
    for file in (MAIN, API):
        param = dep.param(file, "maximumInstanceCount")
        if param is None:
            problems.append(f"{file}: no maximumInstanceCount parameter")
            continue
        low = _decorator_value(param.decorators, "minValue")
        high = _decorator_value(param.decorators, "maxValue")
        if low != str(FLEX_MIN_INSTANCES) or high != str(FLEX_MAX_INSTANCES):
            problems.append(f"{file}: maximumInstanceCount bounds are {low}..{high}")
        if param.value and not FLEX_MIN_INSTANCES <= int(param.value) <= FLEX_MAX_INSTANCES:
            problems.append(f"{file}: maximumInstanceCount default {param.value} out of range")
    return problems


def check_always_ready(dep: Deployment) -> list[str]:
    """The HTTP group (Flex `alwaysReady` name 'http') keeps instances warm, by a parameter."""
    ((_, site),) = dep.resources("Microsoft.Web/sites")
    scale = entries(
        entries(entries(site.body["properties"])["functionAppConfig"])["scaleAndConcurrency"]
    )
    ready = scale.get("alwaysReady", "")
    problems = []
    if (
        not re.search(r"name:\s*'http'", ready)
        or "instanceCount: alwaysReadyHttpInstances" not in ready
    ):
        problems.append("function app: no alwaysReady entry for the 'http' group")
    main = dep.param(MAIN, "alwaysReadyHttpInstances")
    if main is None or literal(main.value) != "1":
        problems.append("main.bicep: alwaysReadyHttpInstances missing or its default is not 1")
    return problems


def check_regions(dep: Deployment) -> list[str]:
    """location is limited to the Flex Consumption regions (no free text azd would accept)."""
    param = dep.param(MAIN, "location")
    allowed = _decorator_value(param.decorators, "allowed") if param else None
    regions = re.findall(r"'([a-z0-9]+)'", allowed or "")
    problems = [] if len(regions) >= 20 else [f"location allows {len(regions)} regions"]
    problems += [f"location allows {r}, a canary region" for r in regions if r.endswith("euap")]
    problems += [f"location list lacks {r}" for r in ("westeurope", "eastus") if r not in regions]
    return problems


def check_operator_access(dep: Deployment) -> list[str]:
    """The operator's principal type is a parameter (azd from a service principal) and the
    operator gets the table data role the runbook's `az storage entity ... --auth-mode login`
    needs."""
    problems = []
    param = dep.param(MAIN, "operatorPrincipalType")
    kinds = (
        re.findall(r"'(\w+)'", _decorator_value(param.decorators, "allowed") or "") if param else []
    )
    if sorted(kinds) != ["Group", "ServicePrincipal", "User"]:
        problems.append(f"main.bicep operatorPrincipalType allows {kinds}")
    rbac = next((d for d in dep.decls(MAIN, "module") if d.name == "rbac"), None)
    passed = entries(rbac.body["params"]) if rbac else {}
    if passed.get("operatorPrincipalType") != "operatorPrincipalType":
        problems.append("main.bicep does not pass operatorPrincipalType to app/rbac.bicep")
    if "operatorPrincipalType" not in dep.parameters:
        problems.append("main.parameters.json does not set operatorPrincipalType")
    role_ids = next((d for d in dep.decls(RBAC, "var") if d.name == "roleIds"), None)
    ids = {k: literal(v) for k, v in entries(role_ids.value).items()} if role_ids else {}
    table_roles = [f"roleIds.{k}" for k, v in ids.items() if v == TABLE_DATA_CONTRIBUTOR]
    operator_table = [
        d
        for f, d in dep.resources("Microsoft.Authorization/roleAssignments")
        if f == RBAC
        and entries(d.body["properties"]).get("principalId") == "operatorPrincipalId"
        and any(r in entries(d.body["properties"]).get("roleDefinitionId", "") for r in table_roles)
    ]
    if len(operator_table) != 1:
        problems.append("the operator has no Storage Table Data Contributor assignment")
    for d in operator_table:
        props = entries(d.body["properties"])
        if props.get("principalType") != "operatorPrincipalType":
            problems.append("the operator's table role does not use operatorPrincipalType")
        if literal(d.body.get("scope", "")) != "storage":
            problems.append("the operator's table role is not scoped to the storage account")
    return problems


def check_alerts(dep: Deployment) -> list[str]:
    """Four log alert rules on Application Insights' customMetrics, one per metric."""
    rules = [d for f, d in dep.resources("Microsoft.Insights/scheduledQueryRules") if f == ALERTS]
    queries = {}
    problems = []
    for rule in rules:
        props = entries(rule.body["properties"])
        if props.get("scopes", "").split() != ["[", "applicationInsights.id", "]"]:
            problems.append(f"{rule.name}: not scoped to Application Insights")
        all_of = entries(props["criteria"]).get("allOf", "[]").strip()
        query = literal(entries(all_of[1:-1].strip()).get("query", ""))
        names = re.findall(r'name == "([\w.]+)"', query)
        if not query.startswith("customMetrics") or len(names) != 1:
            problems.append(f"{rule.name}: query does not select one customMetrics name: {query}")
            continue
        queries[names[0]] = query
        if props.get("actions") != "actions":
            problems.append(f"{rule.name}: does not use the optional action group")
    for metric, must in ALERT_METRICS.items():
        if metric not in queries:
            problems.append(f"no alert rule on {metric}")
        elif must and must not in queries[metric]:
            problems.append(f"the {metric} rule does not select {must}")
    module = next((d for d in dep.decls(MAIN, "module") if d.name == "alerts"), None)
    if module is None or module.head != "'monitoring/alerts.bicep'":
        problems.append("main.bicep does not deploy monitoring/alerts.bicep")
    return problems


CHECKS: dict[str, Callable[[Deployment], list[str]]] = {
    "publishing_policies": check_publishing_policies,
    "instance_limits": check_instance_limits,
    "always_ready": check_always_ready,
    "regions": check_regions,
    "operator_access": check_operator_access,
    "alerts": check_alerts,
}

MUTATIONS = [
    ("publishing_policies", API, "  name: 'scm'\n  location: location\n", "  name: 'scm'\n"),
    ("publishing_policies", API, "  name: 'ftp'\n  location: location\n", "  name: 'ftp'\n"),
    (
        "instance_limits",
        MAIN,
        "@minValue(40)\n@maxValue(1000)\nparam maximumInstanceCount",
        "@minValue(1)\n@maxValue(1000)\nparam maximumInstanceCount",
    ),
    (
        "instance_limits",
        API,
        "@minValue(40)\n@maxValue(1000)\nparam maximumInstanceCount",
        "@minValue(40)\n@maxValue(2000)\nparam maximumInstanceCount",
    ),
    ("always_ready", API, "name: 'http'", "name: 'function:health'"),
    (
        "always_ready",
        MAIN,
        "param alwaysReadyHttpInstances int = 1",
        "param alwaysReadyHttpInstances int = 0",
    ),
    ("regions", MAIN, "  'westeurope'\n", ""),
    ("regions", MAIN, "  'eastus2'\n", "  'eastus2'\n  'eastus2euap'\n"),
    ("operator_access", MAIN, "    operatorPrincipalType: operatorPrincipalType\n", ""),
    (
        "operator_access",
        RBAC,
        "roleIds.storageTableDataContributor)\n    principalId: operatorPrincipalId\n"
        "    principalType: operatorPrincipalType",
        "roleIds.storageTableDataContributor)\n    principalId: operatorPrincipalId\n"
        "    principalType: 'User'",
    ),
    (
        "operator_access",
        RBAC,
        "roleIds.storageTableDataContributor)\n    principalId: operatorPrincipalId",
        "roleIds.keyVaultSecretsOfficer)\n    principalId: operatorPrincipalId",
    ),
    ("alerts", ALERTS, '"kaizala_bridge.kaizala_throttled"', '"kaizala_bridge.kaizala_429"'),
    ("alerts", ALERTS, ' | where tostring(customDimensions.outcome) == "dead"', ""),
    (
        "alerts",
        ALERTS,
        'customMetrics | where name == "kaizala_bridge.webhooks_disabled"',
        'traces | where name == "kaizala_bridge.webhooks_disabled"',
    ),
    (
        "alerts",
        MAIN,
        "module alerts 'monitoring/alerts.bicep'",
        "module alertsGone 'monitoring/alerts.bicep'",
    ),
]


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    return Deployment.load()


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_deployment_passes(deployment: Deployment, name: str) -> None:
    assert CHECKS[name](deployment) == []


@pytest.mark.parametrize(("name", "file", "old", "new"), MUTATIONS)
def test_check_catches_mutation(
    deployment: Deployment, name: str, file: str, old: str, new: str
) -> None:
    assert CHECKS[name](deployment.with_edit(file, old, new)) != []


def test_every_check_has_a_mutation() -> None:
    assert {m[0] for m in MUTATIONS} == set(CHECKS)


def test_alerts_on_pycep_parse() -> None:
    """infra/validate.py (pycep, in .venv-infra) finds the four rules and their metric names."""
    python = ROOT / ".venv-infra" / "bin" / "python"
    if not python.exists():
        pytest.skip(".venv-infra is not installed: make test and make lint-infra install it")
    proc = subprocess.run(  # noqa: S603 - fixed argv
        [str(python), str(ROOT / "infra" / "validate.py"), "--no-checkov"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "alert rules: 4" in proc.stdout


# ----------------------------------------------------------------------------- host.json


def check_host_monitoring(host: dict[str, Any], runbook: str) -> list[str]:
    """Every invocation reaches `requests` (Host.Results at Information or below, requests not
    sampled) when the runbook builds its symptoms and queries on `requests`."""
    logging = host.get("logging", {})
    level = logging.get("logLevel", {}).get(
        "Host.Results", logging.get("logLevel", {}).get("default", "Information")
    )
    problems = []
    if "requests" in runbook and level not in ("Trace", "Debug", "Information"):
        problems.append(f"Host.Results is {level}: only some invocations reach `requests`")
    sampling = logging.get("applicationInsights", {}).get("samplingSettings", {})
    excluded = {t.strip() for t in str(sampling.get("excludedTypes", "")).split(";")}
    if sampling.get("isEnabled", True) and "Request" not in excluded:
        problems.append("requests are sampled: counts over `requests` would be estimates")
    return problems


@pytest.fixture(scope="module")
def host_json() -> dict[str, Any]:
    return dict(json.loads((ROOT / "host.json").read_text("utf-8")))


RUNBOOK = (ROOT / "docs" / "runbook.md").read_text("utf-8")


def test_host_monitoring(host_json: dict[str, Any]) -> None:
    assert check_host_monitoring(host_json, RUNBOOK) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("logging", "logLevel", "Host.Results"), "Error"),
        (("logging", "logLevel", "Host.Results"), "Warning"),
        (("logging", "applicationInsights", "samplingSettings", "excludedTypes"), "Exception"),
    ],
)
def test_host_monitoring_catches(
    host_json: dict[str, Any], path: tuple[str, ...], value: str
) -> None:
    edited = copy.deepcopy(host_json)
    node = edited
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert check_host_monitoring(edited, RUNBOOK) != []
