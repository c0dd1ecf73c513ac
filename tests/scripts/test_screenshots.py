"""The screenshot scripts, run as a user runs them, into a temporary folder.

Each needs a tool the project does not install (headless LibreOffice and poppler, or
Chromium): where one is missing the test skips and names it, and nothing here installs it
(.ci/run stays free of a browser's or an office suite's download). Where the tools are
there, each picture must be a PNG of a plausible size: a page drawn, not an empty or
blank file.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
#: The closing pack's pictures (scripts/close_screenshots.py: four sheets and the chart).
CLOSE_PICTURES = (
    "workbook-roll-forward.png",
    "workbook-invoice-register.png",
    "workbook-cash-applications.png",
    "workbook-aging.png",
    "ar-aging-12-months.png",
)


def needs(*tools: str) -> None:
    """Skip, naming each tool that is not on the PATH and its Debian package."""
    packages = {"soffice": "libreoffice-calc", "pdftoppm": "poppler-utils", "chromium": "chromium"}
    missing = [
        f"{tool} (apt-get install {packages[tool]})" for tool in tools if not shutil.which(tool)
    ]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")


def run_script(name: str, out: Path, timeout: float, *options: str) -> str:
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / name), "--out", str(out), *options],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def assert_picture(path: Path, min_width: int, min_height: int) -> None:
    """A PNG at least this big, of more than one colour, and not a few bytes of nothing."""
    assert path.is_file(), f"{path.name} was not written"
    assert path.stat().st_size > 5_000, f"{path.name}: {path.stat().st_size} bytes"
    with Image.open(path) as picture:
        assert picture.format == "PNG", f"{path.name} is {picture.format}"
        width, height = picture.size
        assert width >= min_width and height >= min_height, f"{path.name}: {picture.size}"
        assert width <= 10_000 and height <= 10_000, f"{path.name}: {picture.size}"
        low, high = picture.convert("L").getextrema()  # one band: two grey levels
        assert isinstance(low, int | float) and isinstance(high, int | float)
        assert high - low > 64, f"{path.name} is blank (grey levels {low} to {high})"


def test_close_screenshots_draws_every_sheet_and_the_chart(tmp_path: Path) -> None:
    needs("soffice", "pdftoppm")
    printed = run_script("close_screenshots.py", tmp_path, timeout=900)
    for name in CLOSE_PICTURES:
        assert str(tmp_path / name) in printed
        assert_picture(tmp_path / name, min_width=600, min_height=150)


def test_temporal_ui_screenshot_shows_the_ui(tmp_path: Path) -> None:
    needs("chromium")
    out = tmp_path / "temporal-ui.png"
    run_script("temporal_ui_screenshot.py", out, timeout=600)
    assert_picture(out, min_width=1000, min_height=600)


def _seeding_dates() -> dict[str, date]:
    """Days the demo is seeded as of, each a past one: the screenshot's filter must list a
    cadence whichever day (and hour) it runs, month ends and February included."""
    today = datetime.now(UTC).date()
    last_31st = today.replace(day=1) - timedelta(days=1)
    while last_31st.day != 31:
        last_31st = last_31st.replace(day=1) - timedelta(days=1)
    february = date(today.year if today.month > 2 else today.year - 1, 2, 28)
    return {
        "today": today,
        "ten days ago": today - timedelta(days=10),
        "the 1st": today.replace(day=1),
        "the 31st": last_31st,
        "february": february,
        "a leap day": date(2024, 2, 29),
    }


@pytest.mark.parametrize("seeded", _seeding_dates().items(), ids=lambda item: item[0])
def test_the_temporal_ui_filter_lists_a_cadence_on_any_seeding_date(
    seeded: tuple[str, date], tmp_path: Path
) -> None:
    """The part of the script before the browser: seed, run the worker, wait for the
    documented query to list something (no Chromium needed)."""
    _, as_of = seeded
    printed = run_script(
        "temporal_ui_screenshot.py",
        tmp_path / "unused.png",
        300,
        "--list-only",
        "--customers",
        "12",
        "--as-of",
        as_of.isoformat(),
    )
    assert "AmountOverdueMinor > 1000000" in printed
    assert int(printed.split("(")[1].split()[0]) >= 1, printed
    assert not (tmp_path / "unused.png").exists()
