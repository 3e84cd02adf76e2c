"""The rooms stay apart: a pure domain, the network only in adapters/ (and the composition root
that builds them), and no sandbox in shipped code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "detector"
DOMAIN = PACKAGE / "domain"
# Network, SDK clients, the sandbox, process-wide switches. slack_sdk.models is allowed: a pure
# data model.
FORBIDDEN_IN_DOMAIN = (
    "boto3",
    "botocore",
    "slack_sdk.web",
    "slack_sdk.webhook",
    "slack_sdk.errors",
    "urllib.request",
    "socket",
    "http",
    "sandbox",
    # Process-wide state and threads: pure code does not switch the garbage collector (which
    # every thread of the process shares) or coordinate threads.
    "gc",
    "threading",
)
FORBIDDEN_ANYWHERE = ("sandbox", "moto")
# The network boundary: SDKs and HTTP clients only in adapters/ and wiring.py (which builds the
# adapters); everything else sees ports and the detector's own errors.
NETWORK = ("boto3", "botocore", "urllib.request", "urllib.error", "urllib3", "http.client")
ADAPTERS = PACKAGE / "adapters"
COMPOSITION_ROOT = PACKAGE / "wiring.py"


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute (``from x import y`` yields ``x`` and ``x.y``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value))
    return names


def matches(module: str, forbidden: str) -> bool:
    return module == forbidden or module.startswith(forbidden + ".")


def domain_modules() -> list[Path]:
    return sorted(DOMAIN.rglob("*.py"))


def all_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_layout_exists() -> None:
    names = {p.name for p in domain_modules()}
    assert {"event.py", "verdict.py", "finding.py", "message.py"} <= names


@pytest.mark.parametrize("path", domain_modules(), ids=lambda p: p.name)
def test_domain_module_imports_no_sdk_or_network(path: Path) -> None:
    bad = sorted(m for m in imported_modules(path) for f in FORBIDDEN_IN_DOMAIN if matches(m, f))
    assert bad == [], f"{path.name} imports {bad}"


def _local_closure(start: Path) -> set[Path]:
    """``start`` and every detector module it imports, transitively."""
    seen: set[Path] = set()
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in imported_modules(path):
            if not matches(module, "detector"):
                continue
            parts = module.split(".")
            for n in range(len(parts), 0, -1):
                candidate = PACKAGE.parent.joinpath(*parts[:n]).with_suffix(".py")
                if candidate.exists():
                    todo.append(candidate)
                    break
    return seen


@pytest.mark.parametrize("path", domain_modules(), ids=lambda p: p.name)
def test_domain_stays_pure_through_the_detector_modules_it_uses(path: Path) -> None:
    bad = sorted(
        f"{dep.relative_to(PACKAGE.parent)} imports {m}"
        for dep in _local_closure(path)
        for m in imported_modules(dep)
        for f in FORBIDDEN_IN_DOMAIN
        if matches(m, f)
    )
    assert bad == []


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_shipped_code_never_imports_the_sandbox_or_moto(path: Path) -> None:
    bad = sorted(m for m in imported_modules(path) for f in FORBIDDEN_ANYWHERE if matches(m, f))
    assert bad == [], f"{path.name} imports {bad}"


def outside_the_boundary() -> list[Path]:
    return [p for p in all_modules() if not p.is_relative_to(ADAPTERS) and p != COMPOSITION_ROOT]


@pytest.mark.parametrize("path", outside_the_boundary(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_adapters_and_the_composition_root_import_network_code(path: Path) -> None:
    bad = sorted(m for m in imported_modules(path) for f in NETWORK if matches(m, f))
    assert bad == [], f"{path.relative_to(PACKAGE)} imports {bad}"


def test_the_checker_sees_imports() -> None:
    # Guard against a checker that silently finds nothing.
    assert "botocore.exceptions" in imported_modules(ADAPTERS / "aws_errors.py")
    assert "http.client" in imported_modules(ADAPTERS / "slack.py")
    assert not matches("urllib.parse", "urllib.request")
    assert any(matches(m, "slack_sdk.models") for m in imported_modules(DOMAIN / "message.py"))
    assert matches("http.client", "http")
    assert not matches("httpx_like", "http")


def test_handler_stays_small() -> None:
    lines = (PACKAGE / "handler.py").read_text().splitlines()
    assert len(lines) < 60
