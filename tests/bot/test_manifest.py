"""The Slack app manifest asks for what the app listens to, at the URL it serves."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.commands import USAGE
from bot.server import SLACK_PATH

MANIFEST = Path(__file__).resolve().parents[2] / "bot" / "manifest.yaml"


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
