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


def run_script(name: str, out: Path, timeout: float) -> str:
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / name), "--out", str(out)],
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
