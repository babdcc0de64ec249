"""The operator's docs stay in step with the code.

- Every problem `slug` of a `BridgeError` subclass is documented in docs/troubleshooting.md.
- Every function of function_app is a node of the Mermaid flowchart in docs/architecture.md.

The checks are plain functions, and the last test feeds them a doc with one entry removed, so
each of them is shown to fail when the docs drift.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from shared.errors import PROBLEM_BASE, BridgeError
from tests.support import functions_by_name

DOCS = Path(__file__).resolve().parents[2] / "docs"
TROUBLESHOOTING = DOCS / "troubleshooting.md"
ARCHITECTURE = DOCS / "architecture.md"


def product_modules() -> list[str]:
    """Every module of shared/ and functions/ (importing them registers the error classes)."""
    root = Path(__file__).resolve().parents[2]
    names = []
    for package in ("shared", "functions"):
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


_MERMAID_BLOCK = re.compile(r"```mermaid\n(.*?)```", re.S)


def bridge_error_classes() -> list[type[BridgeError]]:
    """BridgeError and every subclass defined in the product code, walked recursively."""
    for name in product_modules():
        importlib.import_module(name)
    seen: set[type[BridgeError]] = set()
    todo: list[type[BridgeError]] = [BridgeError]
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue  # reached twice through multiple inheritance
        seen.add(cls)
        todo.extend(cls.__subclasses__())
    product = [c for c in seen if c.__module__.startswith(("shared.", "functions."))]
    return sorted(product, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def problem_slugs() -> dict[str, list[str]]:
    """slug -> the classes that answer with it."""
    slugs: dict[str, list[str]] = {}
    for cls in bridge_error_classes():
        slugs.setdefault(cls.slug, []).append(cls.__name__)
    return slugs


def missing_slugs(doc: str, slugs: dict[str, list[str]]) -> list[str]:
    """Slugs that the doc does not name as code (`slug`)."""
    return sorted(slug for slug in slugs if f"`{slug}`" not in doc)


def mermaid_flowchart(doc: str) -> str:
    """The (first) Mermaid flowchart of a doc, or "" when it has none."""
    for block in _MERMAID_BLOCK.findall(doc):
        if block.lstrip().startswith(("flowchart", "graph")):
            return str(block)
    return ""


def missing_functions(diagram: str, names: list[str]) -> list[str]:
    """Function names that are not a node of the diagram (`name[...]`, `name(...)`, ...)."""
    return sorted(
        name for name in names if not re.search(rf"(?m)^\s*{re.escape(name)}\s*[\[\(\{{>]", diagram)
    )


def function_names() -> list[str]:
    return sorted(functions_by_name())


# --- the checks ------------------------------------------------------------------------------


def test_the_error_walk_reaches_every_module() -> None:
    names = {cls.__name__ for cls in bridge_error_classes()}
    # One class from each module, and classes reached only through multiple inheritance.
    expected = {
        "ConfigError",
        "StorageError",
        "EntityTooLargeError",
        "NotOnboardedError",
        "SecretStoreError",
        "ActionFailedError",
        "DataverseThrottledError",
        "DataverseInputError",
    }
    assert expected <= names, sorted(expected - names)


def test_every_problem_slug_is_in_troubleshooting() -> None:
    doc = TROUBLESHOOTING.read_text(encoding="utf-8")
    slugs = problem_slugs()
    assert len(slugs) >= 15, slugs
    missing = missing_slugs(doc, slugs)
    assert not missing, "docs/troubleshooting.md lacks these problem types: " + ", ".join(
        f"`{s}` ({'/'.join(slugs[s])})" for s in missing
    )
    assert PROBLEM_BASE in doc


def test_every_function_is_in_the_architecture_diagram() -> None:
    diagram = mermaid_flowchart(ARCHITECTURE.read_text(encoding="utf-8"))
    assert diagram, "docs/architecture.md has no Mermaid flowchart"
    names = function_names()
    assert {"send_action", "kaizala_webhook", "drain_outbox", "process_inbox"} <= set(names)
    missing = missing_functions(diagram, names)
    assert not missing, f"the diagram in docs/architecture.md lacks: {', '.join(missing)}"


def test_the_checks_fail_when_the_docs_drift() -> None:
    slugs = problem_slugs()
    doc = TROUBLESHOOTING.read_text(encoding="utf-8")
    assert missing_slugs(doc.replace("`not-onboarded`", "not onboarded"), slugs) == [
        "not-onboarded"
    ]
    assert missing_slugs("", slugs) == sorted(slugs)

    architecture = ARCHITECTURE.read_text(encoding="utf-8")
    diagram = mermaid_flowchart(architecture)
    without = "\n".join(
        line for line in diagram.splitlines() if not line.strip().startswith("send_action[")
    )
    assert missing_functions(without, function_names()) == ["send_action"]
    # A name mentioned only in prose or inside another label is not a node.
    assert missing_functions('x["send_action"]\nsend_action --> y', ["send_action"]) == [
        "send_action"
    ]
    assert mermaid_flowchart(architecture.replace("```mermaid", "```text")) == ""
