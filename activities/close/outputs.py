"""Where a close's files go (``DATA_DIR/close/<period>/``) and how a re-run replaces them.

Everything is written into a fresh folder beside the real one, then swapped
in, so a reader never sees half of one run and half of another, and a re-run
leaves no file of the previous run behind.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from activities.close.report import CloseReport

CHART_FILE = "ar-aging-12-months.png"
CHECKLIST_FILE = "checklist.csv"


def close_dir(data_dir: Path, period: str) -> Path:
    return data_dir / "close" / period


def workbook_name(period: str) -> str:
    return f"close-{period}.xlsx"


def write_outputs(report: CloseReport, directory: Path) -> list[Path]:
    """Write the workbook, the CSVs and the chart; returns the files, workbook first.

    xlsxwriter and matplotlib are imported here, not with the module: the CLI and the
    workflow import this module for its paths, and those two cost about 0.4 s to load.
    """
    from activities.close.chart import write_chart
    from activities.close.workbook import write_csvs, write_workbook

    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.with_name(f".{directory.name}.{uuid.uuid4().hex[:8]}")
    staging.mkdir()
    try:
        write_workbook(report, staging / workbook_name(str(report.period)))
        write_csvs(report, staging)
        write_chart(report, staging / CHART_FILE)
        retired = directory.with_name(f".{directory.name}.old.{uuid.uuid4().hex[:8]}")
        if directory.exists():
            directory.rename(retired)
        staging.rename(directory)
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    workbook = directory / workbook_name(str(report.period))
    return [workbook, *sorted(p for p in directory.iterdir() if p != workbook)]
