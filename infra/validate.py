"""Offline validation of the Bicep under infra/ (no Bicep compiler, no Azure CLI, no network).

Run it in the infra venv, whose checkov/pycep pins clash with the app's dependencies:

    python3.11 -m venv .venv-infra
    .venv-infra/bin/pip install -r infra/requirements-lint.txt
    .venv-infra/bin/python infra/validate.py

Steps, each of which fails the run (exit 1):
1. every `.bicep` file parses with pycep, and pycep kept every declaration: it silently drops
   all but one nested child `resource` of a resource, so the raw declaration count must match;
2. the app settings in the Bicep match infra/settings-policy.json and shared/config.py
   SETTINGS, and a secret one is a Key Vault reference (the same rules as
   tests/infra/test_infra_settings.py, here on pycep's parse);
3. one alert rule per alert metric in the telemetry contract (on pycep's parse);
4. checkov (framework bicep, no downloads) reports no failed check and no parsing error; each
   skip must carry a reason (`// checkov:skip=CKV_AZURE_xx: reason` inside the resource).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parent
ROOT = INFRA.parent
POLICY_FILE = INFRA / "settings-policy.json"

_DECLARATION_RE = re.compile(r"^[ \t]*(resource|param|output|module)[ \t]+[A-Za-z_]\w*[ \t]", re.M)
_PYCEP_SECTIONS = {
    "resource": "resources",
    "param": "parameters",
    "output": "outputs",
    "module": "modules",
}
# Environment of the checkov run: no platform mapping download, no update check against PyPI.
_CHECKOV_ENV = {
    "BC_SKIP_MAPPING": "TRUE",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",
    "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "FALSE",
}
_CHECKOV_ENV_DROP = ("BC_API_KEY", "PRISMA_API_URL", "BC_API_URL")


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def _strip_comments(text: str) -> str:
    """Bicep text without `//` and `/* */` comments (string literals are kept)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("'''", i):
            end = text.find("'''", i + 3)
            end = n if end < 0 else end + 3
            out.append(text[i:end])
            i = end
        elif text[i] == "'":
            j = i + 1
            while j < n and text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_all(files: list[Path]) -> tuple[dict[Path, dict[str, Any]], list[str]]:
    from pycep import BicepParser

    parser = BicepParser()
    parsed: dict[Path, dict[str, Any]] = {}
    problems: list[str] = []
    for path in files:
        rel = path.relative_to(ROOT)
        try:
            tree = parser.parse(file_path=path)
        except Exception as exc:  # pycep raises ValueError and lark errors
            problems.append(f"{rel}: pycep cannot parse it: {type(exc).__name__}: {exc}")
            continue
        parsed[path] = tree
        raw = _strip_comments(path.read_text(encoding="utf-8"))
        for keyword, section in _PYCEP_SECTIONS.items():
            declared = sum(1 for m in _DECLARATION_RE.finditer(raw) if m.group(1) == keyword)
            kept = len(tree.get(section) or {})
            if declared != kept:
                problems.append(
                    f"{rel}: {declared} `{keyword}` declarations but pycep kept {kept} "
                    "(nested child resources are dropped: declare them top-level with `parent:`)"
                )
    return parsed, problems


def _app_settings(parsed: dict[Path, dict[str, Any]]) -> dict[str, tuple[Path, Any]]:
    found: dict[str, tuple[Path, Any]] = {}
    for path, tree in parsed.items():
        for resource in (tree.get("resources") or {}).values():
            config = resource.get("config") or {}
            if resource.get("type") == "Microsoft.Web/sites/config" and config.get("name") == (
                "appsettings"
            ):
                for key, value in (config.get("properties") or {}).items():
                    found[key] = (path, value)
    return found


def check_settings(parsed: dict[Path, dict[str, Any]]) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from shared.config import SETTINGS

    policy = json.loads(POLICY_FILE.read_text(encoding="utf-8"))
    azure, local_only, platform = (set(policy[k]) for k in ("azure", "localOnly", "platform"))
    names = {s.name for s in SETTINGS}
    secret = {s.name for s in SETTINGS if s.secret}
    problems = [
        f"SETTINGS has {n}, which settings-policy.json does not place"
        for n in sorted(names - azure - local_only)
    ]
    problems += [
        f"settings-policy.json places {n}, which SETTINGS lacks"
        for n in sorted((azure | local_only) - names)
    ]
    problems += [f"{n} is both azure and localOnly" for n in sorted(azure & local_only)]
    settings = _app_settings(parsed)
    if not settings:
        return [*problems, "no Microsoft.Web/sites/config 'appsettings' resource found"]
    problems += [
        f"azure setting {n} is missing from the Bicep app settings"
        for n in sorted(azure - set(settings))
    ]
    problems += [
        f"local-only/secret setting {n} is in the Bicep app settings"
        for n in sorted(local_only & set(settings))
    ]
    problems += [
        f"app setting {n} is neither a SETTINGS name nor listed as platform"
        for n in sorted(set(settings) - names - platform)
    ]
    for name in sorted(secret & azure):
        path, value = settings.get(name, (None, None))
        if path is not None:
            problems += _check_key_vault_reference(name, parsed[path], value)
    return problems


def _secure(tree: dict[str, Any], name: Any) -> bool:
    param = (tree.get("parameters") or {}).get(name) if isinstance(name, str) else None
    return "secure" in [d.get("type") for d in (param or {}).get("decorators", [])]


def _check_key_vault_reference(name: str, tree: dict[str, Any], value: Any) -> list[str]:
    """A secret app setting is a variable holding `@Microsoft.KeyVault(SecretUri=...)`, and a
    Key Vault secret in the same file takes its value from a @secure() parameter."""
    variable = (tree.get("variables") or {}).get(value) if isinstance(value, str) else None
    if variable is None or "@Microsoft.KeyVault(SecretUri=" not in json.dumps(variable):
        return [f"secret setting {name} must be a Key Vault reference (a variable)"]
    values = [
        (
            ((r.get("config") or {}).get("config") or r.get("config") or {}).get("properties") or {}
        ).get("value")
        for r in (tree.get("resources") or {}).values()
        if r.get("type") == "Microsoft.KeyVault/vaults/secrets" and not r.get("existing")
    ]
    if not any(_secure(tree, v) for v in values):
        return [f"secret setting {name}: its Key Vault secret must come from a @secure() parameter"]
    return []


# The metrics the alert rules in monitoring/alerts.bicep must name (the telemetry contract).
ALERT_METRICS = (
    "kaizala_bridge.events",
    "kaizala_bridge.refresh_token_days_left",
    "kaizala_bridge.webhooks_disabled",
    "kaizala_bridge.kaizala_throttled",
)


def check_alerts(parsed: dict[Path, dict[str, Any]]) -> list[str]:
    """One scheduled query rule on customMetrics per alert metric (pycep's view of them)."""
    queries: list[str] = []
    for tree in parsed.values():
        for resource in (tree.get("resources") or {}).values():
            if resource.get("type") == "Microsoft.Insights/scheduledQueryRules":
                props = (resource.get("config") or {}).get("properties") or {}
                for criterion in (props.get("criteria") or {}).get("allOf") or []:
                    queries.append(str(criterion.get("query", "")))
    print(f"alert rules: {len(queries)}")
    problems = [
        f"alert query does not read customMetrics: {q}"
        for q in queries
        if not q.startswith("customMetrics")
    ]
    for metric in ALERT_METRICS:
        if sum(f'name == "{metric}"' in q for q in queries) != 1:
            problems.append(f"expected one alert rule on {metric}")
    return problems


def run_checkov(verbose: bool) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in _CHECKOV_ENV_DROP}
    env.update(_CHECKOV_ENV)
    code = (
        "import sys, warnings; warnings.simplefilter('ignore', SyntaxWarning); "
        "from checkov.main import Checkov; sys.exit(Checkov().run())"
    )
    args = ["-d", str(INFRA), "--framework", "bicep", "--skip-download"]
    args += ["--skip-results-upload", "--compact", "-o", "json"]
    proc = subprocess.run(  # noqa: S603 - fixed argv, the interpreter running this script
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return [f"checkov gave no JSON report (exit {proc.returncode}): {proc.stderr[-2000:]}"]
    reports = report if isinstance(report, list) else [report]
    problems: list[str] = []
    counts = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0}
    for rep in reports:
        summary, results = rep.get("summary", {}), rep.get("results", {})
        for key in counts:
            counts[key] += int(summary.get(key, 0) or 0)
        for check in results.get("failed_checks", []):
            problems.append(
                f"checkov {check['check_id']} failed: {check['check_name']} "
                f"[{check['resource']} in {check['file_path']}]"
            )
        for check in results.get("skipped_checks", []):
            reason = ((check.get("check_result") or {}).get("suppress_comment") or "").strip()
            if not reason or reason == "No comment provided":
                problems.append(
                    f"checkov {check['check_id']} skipped without a reason [{check['resource']}]"
                )
            elif verbose:
                print(f"  skipped {check['check_id']} on {check['resource']}: {reason}")
        problems += [f"checkov cannot parse {p}" for p in results.get("parsing_errors", [])]
    if counts["parsing_errors"] and not any("cannot parse" in p for p in problems):
        problems.append(f"checkov reported {counts['parsing_errors']} parsing error(s)")
    if counts["passed"] == 0:
        problems.append("checkov passed no check at all: nothing was scanned")
    print(
        "checkov (bicep): {passed} passed, {failed} failed, {skipped} skipped, "
        "{parsing_errors} parsing errors".format(**counts)
    )
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-checkov", action="store_true", help="parse and check settings only")
    ap.add_argument("-v", "--verbose", action="store_true", help="list each checkov skip")
    opts = ap.parse_args(argv)

    files = bicep_files()
    if not files:
        print("no .bicep files under infra/", file=sys.stderr)
        return 1
    parsed, problems = parse_all(files)
    print(f"pycep: {len(parsed)}/{len(files)} Bicep files parsed")
    problems += check_settings(parsed)
    problems += check_alerts(parsed)
    if not opts.no_checkov:
        problems += run_checkov(opts.verbose)
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    print("infra validation " + ("FAILED" if problems else "passed"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
