"""The dependency direction, held on the source: cli wires everything; sync speaks only the
adapters' interfaces; adapters never reach into sync; the sandbox shares nothing."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ("zenpy", "simple_salesforce", "requests", "urllib3", "twitter_text", "jwt")


def _imports(package: str) -> dict[str, set[str]]:
    """Every module each file of ``package`` imports (absolute names, top level and nested)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def _offenders(package: str, allowed: Callable[[str], bool]) -> list[str]:
    return [f"{file} imports {name}" for file, names in _imports(package).items()
            for name in sorted(names) if not allowed(name)]


def _top(name: str) -> str:
    return name.split(".")[0]


def test_sync_speaks_only_the_adapters_interfaces() -> None:
    allowed_adapters = {"adapters", "adapters.base", "adapters.credentials", "adapters.helpdesk.coverage"}
    assert _offenders("sync", lambda n: not (_top(n) in ("sandbox", "cli") or _top(n) in VENDOR
                                             or (_top(n) == "adapters" and n not in allowed_adapters))) == []


@pytest.mark.parametrize("package, forbidden", [("adapters", ("sync", "cli", "sandbox")),
                                                ("sandbox", ("sync", "cli", "adapters"))])
def test_the_edges_never_reach_back(package: str, forbidden: tuple[str, ...]) -> None:
    assert _offenders(package, lambda n: _top(n) not in forbidden) == []


def test_no_class_in_the_product_is_longer_than_about_four_hundred_lines() -> None:
    long = []
    for package in ("sync", "adapters", "cli", "sandbox"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 400:  # type: ignore[operator]
                    long.append(f"{path.relative_to(ROOT)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")  # type: ignore[operator]
    assert long == []


def test_adapters_never_sleep_by_themselves() -> None:
    calls = []
    for path in (ROOT / "adapters").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr == "sleep" and isinstance(node.value, ast.Name)
                    and node.value.id in ("time", "asyncio")):
                calls.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert calls == []
