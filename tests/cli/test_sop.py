"""`billing-ops sop` writes the SOPs from the configuration the product runs (CONFIG_DIR), and a
configuration the product would refuse is one line here too, with nothing written."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from activities.paths import CONFIG_DIR, REPO_ROOT
from activities.settings import settings
from tests.cli.conftest import CliResult

Cli = Callable[..., CliResult]
PAGES = ["approval-limits.md", "billing-queue.md", "close-checklist.md", "dunning.md"]


@pytest.fixture
def own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    own = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, own)
    monkeypatch.setenv("CONFIG_DIR", str(own))
    settings.cache_clear()
    return own


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_sops_follow_the_live_config(cli: Cli, own_config: Path, tmp_path: Path) -> None:
    _edit(own_config / "approval_matrix.yaml", '{up_to: "500.00",', '{up_to: "750.00",')
    _edit(
        own_config / "cadences.yaml",
        "offset_days: 21, action: email",
        "offset_days: 24, action: email",
    )
    _edit(own_config / "zendesk.yaml", "review_reminder_hours: 4", "review_reminder_hours: 7")
    out = tmp_path / "sop"
    status, said, err = cli("sop", "--out", str(out))
    assert status == 0, err
    assert str(own_config) in said
    assert sorted(p.name for p in out.iterdir()) == PAGES
    limits = (out / "approval-limits.md").read_text()
    assert "| 750.00 | analyst | 1 |" in limits and "500.00 | analyst" not in limits
    assert "| 24 | final_notice | email | final_notice |" in (out / "dunning.md").read_text()
    assert "after 7 hours" in (out / "billing-queue.md").read_text()
    assert "| roll_forward_tied |" in (out / "close-checklist.md").read_text()


@pytest.mark.parametrize(
    ("file", "old", "new", "words"),
    [
        ("approval_matrix.yaml", '{up_to: "500.00",', '{up_to: "5OO",', "'5OO' is not a decimal"),
        ("fx_rates.yaml", 'EUR: "1.0850"', 'EUR: "1,0850"', "'1,0850' is not a decimal"),
        ("cadences.yaml", "\ncadences:\n", "\ncadences: [\n", "cadences.yaml"),
        ("zendesk.yaml", "reply_days: 2", "reply_days: {", "zendesk.yaml"),
    ],
)
def test_a_config_the_product_would_refuse_is_one_line_and_nothing_is_written(
    cli: Cli, own_config: Path, tmp_path: Path, file: str, old: str, new: str, words: str
) -> None:
    _edit(own_config / file, old, new)
    out = tmp_path / "sop"
    status, _, err = cli("sop", "--out", str(out))
    assert status == 1
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert words in err, err
    assert not out.exists()


def test_the_committed_sops_are_the_ones_the_config_gives(cli: Cli, tmp_path: Path) -> None:
    """docs/sop/ is what `billing-ops sop` writes from config/: rerun it after a config change."""
    settings.cache_clear()
    out = tmp_path / "sop"
    assert cli("sop", "--out", str(out))[0] == 0
    committed = REPO_ROOT / "docs" / "sop"
    for page in PAGES:
        assert (committed / page).read_text() == (out / page).read_text(), page
