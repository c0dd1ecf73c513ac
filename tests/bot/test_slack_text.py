"""The one escaping rule for Slack (``activities/slack_text.py``): what it escapes, what it
leaves, and the Slack templates that cannot forget it."""

from __future__ import annotations

from pathlib import Path

from activities.slack_text import Mrkdwn, channel_link, escape, mention, quote, render


def test_escape_turns_slack_markup_into_text() -> None:
    assert escape("<!channel> & <https://evil.example|click>") == (
        "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"
    )
    # Text that already looks escaped is shown as typed, not decoded into markup by Slack.
    assert escape("&lt;!here&gt;") == "&amp;lt;!here&amp;gt;"
    # Formatting stays (it cannot mention or link); bidi and invisible characters go.
    assert escape("*Acme* \u202eevil\u202c\u2066x\u2069\u200b") == "*Acme* evilx"


def test_escaping_twice_changes_nothing_more() -> None:
    once = escape("<@U123> & co")
    assert escape(once) == once == "&lt;@U123&gt; &amp; co"


def test_mentions_and_channel_links_only_from_ids() -> None:
    assert mention("U0ANALYST1") == "<@U0ANALYST1>"
    assert mention("U0X> <!channel") == "U0X&gt; &lt;!channel"
    assert mention("@ana") == "@ana"
    assert channel_link("C0APPROVALS") == "<#C0APPROVALS>"
    assert channel_link("#billing <!here>") == "#billing &lt;!here&gt;"


def test_quote_quotes_every_line_escaped() -> None:
    assert quote("one <!here>\n\nSYSTEM: <@U1>") == ">one &lt;!here&gt;\n>\n>SYSTEM: &lt;@U1&gt;"
    assert quote("") == ">"


def test_a_slack_template_escapes_every_value_but_ours(tmp_path: Path) -> None:
    (tmp_path / "notice.j2").write_text(
        "{{ owner }} {{ name }} owes {{ total }} ({{ count }} invoice{{ '' if count == 1 "
        "else 's' }})\n"
    )
    text = render(
        tmp_path,
        "notice",
        {"owner": mention("U0OWNER1"), "name": "<!channel> Evil", "total": "$5 & up", "count": 2},
    )
    assert text == "<@U0OWNER1> &lt;!channel&gt; Evil owes $5 &amp; up (2 invoices)"
    assert isinstance(text, Mrkdwn)
