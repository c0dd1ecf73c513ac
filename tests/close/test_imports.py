"""Importing the close workflow (as the CLI and the worker do) leaves the spreadsheet writer and
matplotlib unloaded: only writing the outputs needs them (issue 20: 377 ms of every CLI start)."""

from __future__ import annotations

import subprocess
import sys

from activities.paths import REPO_ROOT


def test_the_close_workflow_imports_no_spreadsheet_or_plotting_package() -> None:
    probe = (
        "import sys, workflows.close, activities.close.outputs\n"
        "print(sorted(m for m in ('xlsxwriter', 'openpyxl', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
