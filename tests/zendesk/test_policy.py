"""The queue policy's portal link: mentioned only when configured, and only an allow-listed one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from activities.drafting.templates import render_file
from activities.paths import CONFIG_DIR, PROMPTS_DIR
from activities.zendesk.policy import PolicyError, load_policy

INVOICES = [
    {
        "number": "INV-000003",
        "issue_date": "2026-11-01",
        "due_date": "2026-11-20",
        "status": "due in 3 days",
        "balance": "$500.00",
        "total": "$500.00",
    }
]


def _config(tmp_path: Path, portal: str | None) -> Path:
    shutil.copy(CONFIG_DIR / "drafting.yaml", tmp_path / "drafting.yaml")
    text = (CONFIG_DIR / "zendesk.yaml").read_text()
    if portal is not None:
        text += f'\nportal_link: "{portal}"\n'
    (tmp_path / "zendesk.yaml").write_text(text)
    return tmp_path / "zendesk.yaml"


def test_the_shipped_policy_names_no_portal() -> None:
    assert load_policy(CONFIG_DIR / "zendesk.yaml").portal_link is None


def test_an_allow_listed_portal_is_accepted(tmp_path: Path) -> None:
    policy = load_policy(_config(tmp_path, "https://billing.example.com/portal"))
    assert policy.portal_link == "https://billing.example.com/portal"


@pytest.mark.parametrize(
    ("portal", "why"),
    [
        ("https://billing.example.com.evil.test/portal", "not on the allow-list"),
        ("https://pay.example.net/", "not on the allow-list"),
        ("http://billing.example.com/portal", "should match pattern"),
    ],
)
def test_a_portal_off_the_allow_list_is_refused_naming_the_entry(
    tmp_path: Path, portal: str, why: str
) -> None:
    with pytest.raises(PolicyError, match="portal_link") as refused:
        load_policy(_config(tmp_path, portal))
    assert why in str(refused.value)


def _reply(portal_link: str) -> str:
    values = {
        "ticket": "#7",
        "customer_name": "Acme Corp",
        "invoices": INVOICES,
        "portal_link": portal_link,
        "sender": "Billing team",
    }
    return render_file(PROMPTS_DIR / "tickets", "invoice_copy", values).body


def test_the_invoice_copy_reply_promises_attachments_and_a_portal_only_when_there_is_one() -> None:
    without = _reply("")
    assert "attached to this reply" in without and "portal" not in without
    with_portal = _reply("https://billing.example.com/portal")
    assert "attached to this reply" in with_portal
    assert "billing portal: https://billing.example.com/portal" in with_portal
