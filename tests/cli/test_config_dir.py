"""`preview` and order validation read the price book, tax table and discount bands from
CONFIG_DIR, like every other reader of the billing team's data files (issue 15)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from activities.paths import CONFIG_DIR, REPO_ROOT
from tests.cli.conftest import BILLING_OPS

EXAMPLE = REPO_ROOT / "docs" / "examples" / "preview-seat-increase.json"


def run_preview(config_dir: Path) -> dict[str, object]:
    done = subprocess.run(
        [str(BILLING_OPS), "preview", str(EXAMPLE)],
        capture_output=True,
        text=True,
        env={**os.environ, "CONFIG_DIR": str(config_dir)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_preview_prices_from_config_dir(tmp_path: Path) -> None:
    own = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, own)
    book = own / "pricebook.yaml"
    text = book.read_text()
    assert "25.00" in text
    book.write_text(text.replace("25.00", "50.00"))

    repo_total = run_preview(CONFIG_DIR)["total"]
    own_total = run_preview(own)["total"]
    assert own_total != repo_total
