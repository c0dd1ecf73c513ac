"""The workflow modules shared through the sandbox (workflows/registry.py) are not guarded
by its restricted ``datetime``, ``random`` or ``os``: this reads their code instead and
fails on a clock, a random draw, an environment read or I/O, which would make a replay
take another path than the history it replays."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from workflows.registry import WORKFLOW_RUNNER

SHARED = WORKFLOW_RUNNER.restrictions.passthrough_modules
OURS = sorted(name for name in SHARED if name.startswith("workflows."))
#: Modules whose use inside workflow code is never deterministic.
FORBIDDEN_IMPORTS = {"random", "secrets", "uuid", "time", "os", "socket", "threading", "requests"}
#: ``x.y`` calls that read the clock; workflow code uses ``workflow.now()``.
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic"}


def test_the_shared_workflow_modules_are_the_ones_this_test_reads() -> None:
    assert OURS == ["workflows.approval", "workflows.collections", "workflows.search"]


@pytest.mark.parametrize("name", OURS)
def test_a_shared_workflow_module_reads_no_clock_randomness_or_environment(name: str) -> None:
    path = Path(str(importlib.import_module(name).__file__))
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            found += [
                f"line {node.lineno}: imports {m}"
                for m in modules
                if m.split(".")[0] in FORBIDDEN_IMPORTS
            ]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in FORBIDDEN_CALLS
            and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "workflow")
        ):
            found.append(f"line {node.lineno}: calls .{node.func.attr}()")
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "open":
            found.append(f"line {node.lineno}: opens a file")
    assert not found, f"{path.name}: " + "; ".join(found)
