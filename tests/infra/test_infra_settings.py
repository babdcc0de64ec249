"""Offline checks of the Azure deployment (azure.yaml, infra/, .funcignore).

The app settings in the Bicep are checked against `shared.config.SETTINGS` and the partition in
infra/settings-policy.json, and the security properties the deployment relies on are pinned.
This runs in the app venv, without checkov: a small comment- and string-aware scanner reads
the Bicep. Each check returns a list of problems; every check runs on the real files and on
mutated copies, so each is shown to be able to fail. (infra/validate.py runs the same
settings rules on pycep's parse, plus checkov, in .venv-infra.)
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from shared.config import SETTINGS, SettingSpec

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"

# Built-in role definition ids the identities may be given (least privilege: no Owner,
# Contributor or User Access Administrator).
ALLOWED_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}
REQUIRED_OUTPUTS = {
    "AZURE_LOCATION",
    "AZURE_TENANT_ID",
    "AZURE_RESOURCE_GROUP",
    "AZURE_FUNCTION_APP_NAME",
    "FUNCTION_APP_DEFAULT_HOST_NAME",
    "WEBHOOK_CALLBACK_URL",
    "KEY_VAULT_URL",
    "API_IDENTITY_CLIENT_ID",
    "SERVICE_API_HOST",  # issue 12: connector (the custom connector's host)
}
DEPLOYED = ["function_app.py", "host.json", "requirements.txt", "functions/x.py"]
DEPLOYED += ["shared/config.py", "templates/opportunity-survey.json"]
NOT_DEPLOYED = [".venv/bin/python", ".venv-infra/bin/python", ".git/HEAD", "tests/x.py"]
NOT_DEPLOYED += ["devtools/serving.py", "bench/run.py", "docs/a.md", "infra/main.bicep"]
NOT_DEPLOYED += ["node_modules/azurite/package.json", ".local/secrets.json", ".ci/run"]
NOT_DEPLOYED += ["local.settings.json", "Makefile", "README.md", "shared/__pycache__/c.pyc"]


# ----------------------------------------------------------------------------- Bicep scanner


def _string_end(text: str, i: int) -> int:
    """Index just past the string literal starting at text[i] ("'")."""
    if text.startswith("'''", i):
        end = text.find("'''", i + 3)
        return len(text) if end < 0 else end + 3
    j = i + 1
    while j < len(text):
        if text[j] == "\\":
            j += 2
        elif text[j] == "'":
            return j + 1
        elif text.startswith("${", j):
            j = _close(text, j + 1)
        else:
            j += 1
    return j


def _close(text: str, i: int) -> int:
    """Index just past the bracket that closes the one at text[i]."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c == "'":
            i = _string_end(text, i)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _top_level(text: str) -> Iterable[tuple[int, str]]:
    """(index, char) of every character outside strings and brackets."""
    i = 0
    while i < len(text):
        c = text[i]
        if c == "'":
            i = _string_end(text, i)
        elif c in "([{":
            i = _close(text, i)
        else:
            yield i, c
            i += 1


def strip_comments(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "'":
            end = _string_end(text, i)
            out.append(text[i:end])
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end < 0 else end + 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def split_top(text: str, seps: str, maxsplit: int = -1) -> list[str]:
    parts, start = [], 0
    for i, c in _top_level(text):
        if c in seps and maxsplit != 0:
            parts.append(text[start:i])
            start = i + 1
            maxsplit -= 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def entries(obj: str) -> dict[str, str]:
    """Top-level `key: value` pairs of an object literal `{ ... }`."""
    obj = obj.strip()
    if not (obj.startswith("{") and obj.endswith("}")):
        raise ValueError(f"not an object literal: {obj[:80]}")
    result = {}
    for item in split_top(obj[1:-1], "\n,"):
        kv = split_top(item, ":", 1)
        if len(kv) == 2:
            result[kv[0].strip("'")] = kv[1]
    return result


def call_args(expr: str, func: str) -> list[str] | None:
    """Arguments of `func(...)` when expr is exactly that call, else None."""
    expr = expr.strip()
    if not expr.startswith(func + "(") or _close(expr, len(func)) != len(expr):
        return None
    return split_top(expr[len(func) + 1 : -1], ",")


@dataclass(frozen=True)
class Decl:
    kind: str  # param | var | resource | module | output
    name: str
    head: str  # a param's or output's type; a resource's 'Type@version' [existing]
    value: str  # after '=' ('' for a param without default)
    decorators: tuple[str, ...] = ()

    @property
    def type(self) -> str:
        return self.head.split("'")[1].split("@")[0] if "'" in self.head else self.head

    @property
    def existing(self) -> bool:
        return self.head.endswith("existing")

    @property
    def body(self) -> dict[str, str]:
        """A resource's or module's object (after any `if (...)` condition)."""
        start = _close(self.value, self.value.index("(")) if self.value.startswith("if") else 0
        start = self.value.index("{", start)
        return entries(self.value[start : _close(self.value, start)])


_DECL_RE = re.compile(
    r"(param|var|resource|module|output)\s+(\w+)\s*([^=]*?)\s*(?:=\s*(.*))?\Z", re.S
)


def declarations(text: str) -> list[Decl]:
    decls, decorators = [], []
    for stmt in split_top(strip_comments(text), "\n"):
        if stmt.startswith("@"):
            decorators.append(stmt)
            continue
        m = _DECL_RE.match(stmt)
        if m:
            kind, name, head, value = m.groups()
            decls.append(Decl(kind, name, head.strip(), (value or "").strip(), tuple(decorators)))
        decorators = []
    return decls


def literal(expr: str) -> str:
    """The value of a string or number literal ('' quotes removed)."""
    expr = expr.strip()
    return expr[1:-1] if expr.startswith("'") and expr.endswith("'") else expr


# ----------------------------------------------------------------------------- the deployment


@dataclass(frozen=True)
class Deployment:
    bicep: dict[str, str]  # path relative to infra/ -> text
    policy: dict[str, list[str]]
    parameters: dict[str, dict[str, str]]
    azure_yaml: str
    funcignore: str
    settings: tuple[SettingSpec, ...] = field(default=SETTINGS)

    @classmethod
    def load(cls) -> Deployment:
        return cls(
            bicep={str(p.relative_to(INFRA)): p.read_text("utf-8") for p in INFRA.rglob("*.bicep")},
            policy=json.loads((INFRA / "settings-policy.json").read_text("utf-8")),
            parameters=json.loads((INFRA / "main.parameters.json").read_text("utf-8"))[
                "parameters"
            ],
            azure_yaml=(ROOT / "azure.yaml").read_text("utf-8"),
            funcignore=(ROOT / ".funcignore").read_text("utf-8"),
        )

    def decls(self, file: str, kind: str | None = None) -> list[Decl]:
        return [d for d in declarations(self.bicep[file]) if kind in (None, d.kind)]

    def all_decls(self, kind: str) -> Iterable[tuple[str, Decl]]:
        for file in sorted(self.bicep):
            for d in self.decls(file, kind):
                yield file, d

    def resources(self, type_: str) -> list[tuple[str, Decl]]:
        return [(f, d) for f, d in self.all_decls("resource") if d.type == type_ and not d.existing]

    def param(self, file: str, name: str) -> Decl | None:
        return next((d for d in self.decls(file, "param") if d.name == name), None)

    def app_settings(self) -> tuple[str, dict[str, str]]:
        found = [
            (f, d)
            for f, d in self.resources("Microsoft.Web/sites/config")
            if literal(d.body.get("name", "")) == "appsettings"
        ]
        assert len(found) == 1, f"expected one 'appsettings' config resource, found {len(found)}"
        file, decl = found[0]
        return file, entries(decl.body["properties"])

    def with_edit(self, file: str, old: str, new: str) -> Deployment:
        texts = {"funcignore": self.funcignore, "azure.yaml": self.azure_yaml}
        text = texts.get(file, self.bicep.get(file, ""))
        assert old in text, f"mutation target not found in {file}: {old!r}"
        edited = text.replace(old, new, 1)
        if file == "funcignore":
            return replace(self, funcignore=edited)
        if file == "azure.yaml":
            return replace(self, azure_yaml=edited)
        return replace(self, bicep={**self.bicep, file: edited})


# ----------------------------------------------------------------------------- the checks


def check_partition(dep: Deployment) -> list[str]:
    azure, local = set(dep.policy["azure"]), set(dep.policy["localOnly"])
    names = {s.name for s in dep.settings}
    problems = [
        f"{n}: in SETTINGS but in neither azure nor localOnly" for n in names - azure - local
    ]
    problems += [
        f"{n}: in settings-policy.json but not in SETTINGS" for n in (azure | local) - names
    ]
    problems += [f"{n}: both azure and localOnly" for n in azure & local]
    problems += [
        f"{n}: listed as platform but is a SETTINGS name"
        for n in names & set(dep.policy["platform"])
    ]
    return sorted(problems)


def check_app_settings(dep: Deployment) -> list[str]:
    _, settings = dep.app_settings()
    azure, local = set(dep.policy["azure"]), set(dep.policy["localOnly"])
    known = {s.name for s in dep.settings} | set(dep.policy["platform"])
    problems = [
        f"{n}: Azure setting missing from the Bicep app settings" for n in azure - set(settings)
    ]
    problems += [
        f"{n}: local-only/secret setting in the Bicep app settings" for n in local & set(settings)
    ]
    problems += [
        f"{n}: app setting neither in SETTINGS nor platform" for n in set(settings) - known
    ]
    for file, text in dep.bicep.items():  # a local-only name anywhere else (another config block)
        code = strip_comments(text)
        problems += [
            f"{n}: local-only/secret setting named in {file}"
            for n in local
            if re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", code)
        ]
    return sorted(set(problems))


def check_secret_settings(dep: Deployment) -> list[str]:
    """A secret app setting is a Key Vault reference (a variable holding
    `@Microsoft.KeyVault(SecretUri=...)`); the secret's value comes from a @secure() parameter
    (in the app's file and main.bicep, no default); the site resolves references with its
    user-assigned identity (keyVaultReferenceIdentity)."""
    file, settings = dep.app_settings()
    problems = []
    for spec in dep.settings:
        if not spec.secret or spec.name not in settings:
            continue
        var = next((d for d in dep.decls(file, "var") if d.name == settings[spec.name]), None)
        if var is None or "@Microsoft.KeyVault(SecretUri=" not in var.value:
            problems.append(f"{spec.name}: must be a Key Vault reference variable in {file}")
            continue
        secrets = [
            entries(d.body["properties"]).get("value", "")
            for f, d in dep.resources("Microsoft.KeyVault/vaults/secrets")
            if f == file
        ]
        sources = [s for s in secrets if s and re.search(rf"\b{re.escape(s)}\b", var.value)]
        if not sources:
            problems.append(f"{spec.name}: no Key Vault secret in {file} holds its value")
        for source in sources:
            param = dep.param(file, source)
            main = dep.param("main.bicep", source)
            for where, decl in ((file, param), ("main.bicep", main)):
                if decl is None or "@secure()" not in decl.decorators:
                    problems.append(f"{spec.name}: must come from a @secure() parameter in {where}")
            if main is not None and literal(main.value):
                problems.append(
                    f"{spec.name}: a secure parameter must not have a non-empty default"
                )
    ((_, site),) = dep.resources("Microsoft.Web/sites")
    if entries(site.body["properties"]).get("keyVaultReferenceIdentity") != "identityId":
        problems.append("function app: keyVaultReferenceIdentity is not the user-assigned identity")
    return problems


def check_defaults(dep: Deployment) -> list[str]:
    """Settings with a default in SETTINGS get that default from main.bicep's parameter."""
    _, settings = dep.app_settings()
    problems = []
    for spec in dep.settings:
        if spec.default is None or spec.name not in settings:
            continue
        expr = settings[spec.name]
        name = (call_args(expr, "string") or [expr])[0]
        param = dep.param("main.bicep", name)
        if param is None:
            problems.append(f"{spec.name}: value {expr!r} is not a main.bicep parameter")
        elif literal(param.value) != spec.default:
            problems.append(f"{spec.name}: main.bicep default {param.value!r} != {spec.default!r}")
    return problems


def check_role_assignments(dep: Deployment) -> list[str]:
    problems = []
    assignments = dep.resources("Microsoft.Authorization/roleAssignments")
    if not assignments:
        return ["no role assignments"]
    for file, decl in assignments:
        body = decl.body
        args = call_args(body.get("name", ""), "guid")
        if args is None or len(args) < 3:
            problems.append(f"{file} {decl.name}: name is not guid(scope, principal, role)")
        props = entries(body.get("properties", "{}"))
        role = re.search(r"roleIds\.(\w+)", props.get("roleDefinitionId", ""))
        if role is None or args is None or not any(role.group(0) in a for a in args):
            problems.append(f"{file} {decl.name}: role must be roleIds.<name>, also in the guid()")
        if "scope" not in body:
            problems.append(f"{file} {decl.name}: no explicit scope (would be the resource group)")
        role_ids = next((d for d in dep.decls(file, "var") if d.name == "roleIds"), None)
        ids = {k: literal(v) for k, v in entries(role_ids.value).items()} if role_ids else {}
        if role is not None and ids.get(role.group(1)) not in ALLOWED_ROLES:
            problems.append(f"{file} {decl.name}: role {ids.get(role.group(1))} is not allowed")
    return problems


def check_flat_resources(dep: Deployment) -> list[str]:
    """No nested `resource` blocks: pycep (checkov's parser) keeps only one child per resource."""
    return [
        f"{file}: nested resource {m.group(1)}; declare it top-level with `parent:`"
        for file, text in sorted(dep.bicep.items())
        for m in re.finditer(r"^[ \t]+resource\s+(\w+)\s+'", strip_comments(text), re.M)
    ]


def _props(dep: Deployment, type_: str) -> list[dict[str, str]]:
    found = dep.resources(type_)
    assert found, f"no {type_} resource"
    return [entries(d.body["properties"]) for _, d in found]


def check_key_vault(dep: Deployment) -> list[str]:
    want = {
        "enableRbacAuthorization": "true",
        "enableSoftDelete": "true",
        "softDeleteRetentionInDays": "90",
        "enablePurgeProtection": "true",
    }
    problems = []
    for props in _props(dep, "Microsoft.KeyVault/vaults"):
        problems += [
            f"Key Vault {k} is {props.get(k)!r}, not {v}"
            for k, v in want.items()
            if props.get(k) != v
        ]
        if "accessPolicies" in props:
            problems.append("Key Vault has access policies (RBAC only)")
    return problems


def check_storage(dep: Deployment) -> list[str]:
    want = {
        "allowSharedKeyAccess": "false",
        "allowBlobPublicAccess": "false",
        "minimumTlsVersion": "'TLS1_2'",
        "supportsHttpsTrafficOnly": "true",
    }
    problems = []
    for props in _props(dep, "Microsoft.Storage/storageAccounts"):
        problems += [
            f"storage {k} is {props.get(k)!r}, not {v}"
            for k, v in want.items()
            if props.get(k) != v
        ]
    return problems


def check_function_app(dep: Deployment) -> list[str]:
    problems = []
    ((_, plan),) = dep.resources("Microsoft.Web/serverfarms")
    if entries(plan.body["sku"]) != {"name": "'FC1'", "tier": "'FlexConsumption'"}:
        problems.append("plan sku is not FC1 / FlexConsumption")
    if entries(plan.body["properties"]).get("reserved") != "true":
        problems.append("plan is not Linux (reserved: true)")
    ((file, site),) = dep.resources("Microsoft.Web/sites")
    body, props = site.body, entries(site.body["properties"])
    site_config, app_config = entries(props["siteConfig"]), entries(props["functionAppConfig"])
    storage = entries(entries(app_config["deployment"])["storage"])
    scale, runtime = entries(app_config["scaleAndConcurrency"]), entries(app_config["runtime"])
    auth = entries(storage["authentication"]).get("type")
    checks = {
        "kind is functionapp,linux": body.get("kind") == "'functionapp,linux'",
        "identity is user-assigned": entries(body["identity"]).get("type") == "'UserAssigned'",
        "tagged azd-service-name: api": "'azd-service-name': 'api'" in body.get("tags", ""),
        "httpsOnly": props.get("httpsOnly") == "true",
        "minimum TLS 1.2": site_config.get("minTlsVersion") == "'1.2'",
        "FTPS disabled": site_config.get("ftpsState") == "'Disabled'",
        "deployment storage is a blob container": storage.get("type") == "'blobContainer'",
        "deployment storage uses the user-assigned identity": auth == "'UserAssignedIdentity'",
        "runtime python 3.11": runtime == {"name": "'python'", "version": "'3.11'"},
        "instance memory 2048 MB": scale.get("instanceMemoryMB") == "2048",
        "maximumInstanceCount is a parameter": dep.param(
            file, scale.get("maximumInstanceCount", "")
        )
        is not None,
    }
    problems += [f"function app: {what}" for what, ok in checks.items() if not ok]
    return problems


def check_azd_layout(dep: Deployment) -> list[str]:
    problems = []
    yaml = dep.azure_yaml
    service = re.search(r"^services:\n  api:\n((?:    .*\n?)+)", yaml, re.M)
    fields = dict(re.findall(r"^    (\w+): *(\S+)", service.group(1), re.M)) if service else {}
    if fields != {"project": ".", "language": "python", "host": "function"}:
        problems.append(f"azure.yaml service api is {fields}")
    main = strip_comments(dep.bicep["main.bicep"])
    if not re.search(r"^targetScope = 'subscription'", main, re.M):
        problems.append("main.bicep does not deploy at subscription scope")
    outputs = {d.name for d in dep.decls("main.bicep", "output")}
    problems += [
        f"main.bicep output {o} is not UPPER_SNAKE"
        for o in outputs
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", o)
    ]
    problems += [f"main.bicep lacks output {o}" for o in REQUIRED_OUTPUTS - outputs]
    params = {d.name for d in dep.decls("main.bicep", "param")}
    problems += [
        f"main.parameters.json sets unknown parameter {p}" for p in set(dep.parameters) - params
    ]
    for param, var in (("environmentName", "AZURE_ENV_NAME"), ("location", "AZURE_LOCATION")):
        if dep.parameters.get(param, {}).get("value") != f"${{{var}}}":
            problems.append(f"main.parameters.json {param} is not ${{{var}}}")
    rg = [
        d
        for d in dep.decls("main.bicep", "resource")
        if d.type == "Microsoft.Resources/resourceGroups"
    ]
    tags = next((d.value for d in dep.decls("main.bicep", "var") if d.name == "tags"), "")
    if not rg or rg[0].body.get("tags") != "tags" or "'azd-env-name': environmentName" not in tags:
        problems.append("resource group is not tagged azd-env-name")
    return problems


def _ignored(patterns: list[str], path: str) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        parts = path.split("/")
        candidates = (
            [path]
            if "/" in pat
            else [*parts, *("/".join(parts[: i + 1]) for i in range(len(parts)))]
        )
        if any(fnmatch.fnmatchcase(c, pat.lstrip("/")) for c in candidates):
            ignored = not negate
    return ignored


def check_funcignore(dep: Deployment) -> list[str]:
    patterns = [
        ln.strip() for ln in dep.funcignore.splitlines() if ln.strip() and not ln.startswith("#")
    ]
    problems = [f".funcignore would not deploy {p}" for p in DEPLOYED if _ignored(patterns, p)]
    problems += [f".funcignore would deploy {p}" for p in NOT_DEPLOYED if not _ignored(patterns, p)]
    return problems


CHECKS: dict[str, Callable[[Deployment], list[str]]] = {
    "partition": check_partition,
    "app_settings": check_app_settings,
    "secret_settings": check_secret_settings,
    "defaults": check_defaults,
    "role_assignments": check_role_assignments,
    "key_vault": check_key_vault,
    "storage": check_storage,
    "function_app": check_function_app,
    "azd_layout": check_azd_layout,
    "funcignore": check_funcignore,
    "flat_resources": check_flat_resources,
}


# ----------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    return Deployment.load()


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_deployment_passes(deployment: Deployment, name: str) -> None:
    assert CHECKS[name](deployment) == []


API, RBAC, MAIN = "app/api.bicep", "app/rbac.bicep", "main.bicep"
KV, ST = "core/security/key-vault.bicep", "core/storage/storage-account.bicep"
MUTATIONS = [
    ("app_settings", API, "    RETENTION_DAYS: string(retentionDays)\n", ""),
    (
        "app_settings",
        API,
        "    DATAVERSE_URL: dataverseUrl\n",
        "    DATAVERSE_URL: dataverseUrl\n    KAIZALA_REFRESH_TOKEN: 'x'\n",
    ),
    (
        "app_settings",
        API,
        "    DATAVERSE_URL: dataverseUrl\n",
        "    DATAVERSE_URL: dataverseUrl\n    UNDECLARED_SETTING: 'x'\n",
    ),
    (
        "app_settings",
        MAIN,
        "var tags = {",
        "var localSecret = { LOCAL_SECRETS_PATH: 'x' }\nvar tags = {",
    ),
    ("secret_settings", API, "@secure()\nparam responseForwardUrl", "param responseForwardUrl"),
    (
        "secret_settings",
        API,
        "RESPONSE_FORWARD_URL: responseForwardUrlReference",
        "RESPONSE_FORWARD_URL: responseForwardUrl",
    ),
    ("secret_settings", API, "@Microsoft.KeyVault(SecretUri=", "(SecretUri="),
    ("secret_settings", API, "    value: responseForwardUrl\n", "    value: 'x'\n"),
    (
        "secret_settings",
        API,
        "keyVaultReferenceIdentity: identityId",
        "keyVaultReferenceIdentity: ''",
    ),
    ("secret_settings", MAIN, "@secure()\nparam responseForwardUrl", "param responseForwardUrl"),
    (
        "defaults",
        MAIN,
        "param tableNamePrefix string = 'kb'",
        "param tableNamePrefix string = 'kz'",
    ),
    ("defaults", MAIN, "param inboxMaxAttempts int = 8", "param inboxMaxAttempts int = 9"),
    (
        "role_assignments",
        RBAC,
        "name: guid(storage.id, identityPrincipalId, roleIds.storageBlobDataOwner)",
        "name: 'blob-owner'",
    ),
    (
        "role_assignments",
        RBAC,
        "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
        "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    ),
    ("key_vault", KV, "enableRbacAuthorization: true", "enableRbacAuthorization: false"),
    ("key_vault", KV, "enablePurgeProtection: true", "enablePurgeProtection: false"),
    ("storage", ST, "allowSharedKeyAccess: false", "allowSharedKeyAccess: true"),
    ("storage", ST, "allowBlobPublicAccess: false", "allowBlobPublicAccess: true"),
    ("function_app", API, "httpsOnly: true", "httpsOnly: false"),
    ("function_app", API, "ftpsState: 'Disabled'", "ftpsState: 'AllAllowed'"),
    ("function_app", API, "type: 'UserAssignedIdentity'", "type: 'StorageAccountConnectionString'"),
    ("function_app", API, "tier: 'FlexConsumption'", "tier: 'Dynamic'"),
    ("function_app", API, "instanceMemoryMB: 2048", "instanceMemoryMB: 4096"),
    ("function_app", API, "version: '3.11'", "version: '3.12'"),
    ("azd_layout", MAIN, "output WEBHOOK_CALLBACK_URL", "output webhookCallbackUrl"),
    ("azd_layout", "azure.yaml", "host: function", "host: appservice"),
    ("funcignore", "funcignore", "tests/\n", ""),
    (
        "flat_resources",
        KV,
        "  scope: vault\n",
        "  scope: vault\n  resource child 'x' = {\n    name: 'x'\n  }\n",
    ),
    ("funcignore", "funcignore", "infra/\n", "infra/\nshared/\n"),
]


@pytest.mark.parametrize(("name", "file", "old", "new"), MUTATIONS)
def test_check_catches_mutation(
    deployment: Deployment, name: str, file: str, old: str, new: str
) -> None:
    assert CHECKS[name](deployment.with_edit(file, old, new)) != []


def test_partition_catches_new_setting(deployment: Deployment) -> None:
    extra = SettingSpec("BRAND_NEW_SETTING", "not placed in settings-policy.json", None)
    assert check_partition(replace(deployment, settings=(*SETTINGS, extra))) != []


def test_every_check_has_a_mutation() -> None:
    covered = {m[0] for m in MUTATIONS} | {"partition"}
    assert covered == set(CHECKS)


def test_scanner_agrees_with_pycep(deployment: Deployment) -> None:
    """When pycep (the parser checkov uses) is importable, it must see what the scanner sees."""
    pycep = pytest.importorskip("pycep")
    file, settings = deployment.app_settings()
    tree = pycep.BicepParser().parse(file_path=INFRA / file)
    configs = [
        r["config"]
        for r in tree["resources"].values()
        if r["type"] == "Microsoft.Web/sites/config" and r["config"].get("name") == "appsettings"
    ]
    assert len(configs) == 1
    assert set(configs[0]["properties"]) == set(settings)
    for path in INFRA.rglob("*.bicep"):
        rel = str(path.relative_to(INFRA))
        resources = pycep.BicepParser().parse(file_path=path).get("resources") or {}
        assert sorted(resources) == sorted(d.name for d in deployment.decls(rel, "resource")), rel
