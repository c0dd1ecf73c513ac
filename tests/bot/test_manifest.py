"""The Slack app manifest asks for what the app listens to, at the URL it serves."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.commands import _PARSERS, USAGE
from bot.roles import NEEDS_AR_TEAM
from bot.server import SLACK_PATH

MANIFEST = Path(__file__).resolve().parents[2] / "bot" / "manifest.yaml"
SLACK_DOC = Path(__file__).resolve().parents[2] / "docs" / "slack.md"


def test_the_manifest_matches_the_app() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/billing"
    for example in command["usage_hint"].split("|"):
        assert example.split()[0] in USAGE
    settings = manifest["settings"]
    urls = [
        command["url"],
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
    ]
    assert all(url.endswith(SLACK_PATH) for url in urls)
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["event_subscriptions"]["bot_events"] == [
        "app_home_opened",
        "app_mention",
        "message.im",
    ]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert {"commands", "chat:write"} <= set(manifest["oauth_config"]["scopes"]["bot"])


def test_the_usage_hint_and_the_docs_list_every_subcommand_the_bot_handles() -> None:
    """The command table (what ``parse`` dispatches on) is the truth: the manifest's usage hint,
    the usage lines and docs/slack.md's table name exactly its subcommands, and the table's
    "who" column says what bot/roles.py enforces."""
    handled = set(_PARSERS)
    assert set(USAGE) == handled
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    (command,) = manifest["features"]["slash_commands"]
    hinted = [example.split()[0] for example in command["usage_hint"].split(" | ")]
    assert sorted(hinted) == sorted(handled)
    rows = re.findall(r"^\| `/billing (\w+)[^|]*`[^|]*\|[^|]*\| ([^|]+) \|$", _doc(), re.M)
    documented = {name: who for name, who in rows}
    assert sorted(name for name, _ in rows) == sorted(handled)
    for name, who in documented.items():
        expected = "anyone"
        if name in NEEDS_AR_TEAM:
            expected = "AR team" if NEEDS_AR_TEAM[name] else "anyone in the matrix"
        assert who == expected, name


def _doc() -> str:
    """docs/slack.md with the escaped pipes of its table cells taken out."""
    return SLACK_DOC.read_text(encoding="utf-8").replace("\\|", "/")
