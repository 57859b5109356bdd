"""Slack emulator: who a message would notify, so worker tests can prove untrusted text is inert."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.sandbox.slack_reference import SlackHarness, serve_slack
from worker.sandbox.slack.pings import message_pings


def mrkdwn(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, **extra}}


def plain(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


@pytest.mark.parametrize(
    ("text", "blocks", "parse_names", "expected"),
    [
        ("Deploy &lt;!channel&gt; &amp; rollback", None, False, set()),
        ("Deploy <!channel> now", None, False, {"!channel"}),
        ("<!here|here> and <!everyone>", None, False, {"!here", "!everyone"}),
        (
            "ask <!subteam^S0ONCALL|@oncall> and <@U0AIKO0001>",
            None,
            False,
            {
                "!subteam^S0ONCALL",
                "@U0AIKO0001",
            },
        ),
        ("<#C0GENERAL0|general> is a link, not a ping", None, False, set()),
        ("<!date^1392734382^{date_short}|Feb 18>", None, False, set()),
        ("bare @channel in top-level text", None, False, set()),
        ("bare @channel with link_names", None, True, {"!channel"}),
        ("mail me at ops@here.com", None, True, set()),
        ("x", [mrkdwn("hey @here")], False, {"!here"}),
        ("x", [mrkdwn("hey @here", verbatim=True)], False, set()),
        ("x", [mrkdwn("hey <!here>", verbatim=True)], False, {"!here"}),
        ("x", [plain("hey @everyone")], False, set()),
        # Mentions in plain_text objects are shown literally and notify nobody
        # (slackapi/bolt-python issue 343, slackapi/node-slack-sdk issue 712;
        # reference/slack/limits-measured.md).
        ("x", [plain("hey <!everyone>")], False, set()),
        ("x", [plain("ask <@U0AIKO0001> and <!subteam^S0ONCALL>")], False, set()),
        (
            "x",
            [{"type": "context", "elements": [{"type": "plain_text", "text": "<!here>"}]}],
            False,
            set(),
        ),
        (
            "x",
            [{"type": "section", "fields": [{"type": "plain_text", "text": "<@U0BEN00001>"}]}],
            False,
            set(),
        ),
        ("x", [mrkdwn("&lt;!channel&gt; @\u200bchannel")], False, set()),
        (
            "x",
            [{"type": "context", "elements": [{"type": "mrkdwn", "text": "cc @channel"}]}],
            False,
            {"!channel"},
        ),
        (
            "x",
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "<@U0BEN00001>"}]}],
            False,
            {"@U0BEN00001"},
        ),
        (
            "x",
            [
                {
                    "type": "rich_text",
                    "elements": [
                        {
                            "type": "rich_text_section",
                            "elements": [
                                {"type": "text", "text": "@here typed as text"},
                                {"type": "broadcast", "range": "channel"},
                                {"type": "user", "user_id": "U0DANA0001"},
                            ],
                        }
                    ],
                }
            ],
            False,
            {"!channel", "@U0DANA0001"},
        ),
    ],
)
def test_pings_are_parsed_the_way_slack_parses_them(
    text: str, blocks: list[Any] | None, parse_names: bool, expected: set[str]
) -> None:
    assert message_pings(text, blocks, None, parse_names=parse_names) == expected


def test_attachments_count_their_control_sequences() -> None:
    attachments = [{"text": "fyi <!here>", "fields": [{"title": "t", "value": "<@U0X0000001>"}]}]

    assert message_pings("", None, attachments, parse_names=False) == {"!here", "@U0X0000001"}


@pytest.fixture
def slack() -> Iterator[SlackHarness]:
    with serve_slack() as harness:
        yield harness


def test_escaped_untrusted_text_pings_nobody(slack: SlackHarness) -> None:
    untrusted = "Deploy &lt;!channel&gt; &amp; rollback"
    posted = slack.post(untrusted, blocks=[mrkdwn(untrusted, verbatim=True), plain("@here")])

    assert slack.emulator.pings(slack.channel, posted["ts"]) == set()


def test_channel_mentions_and_bare_here_in_mrkdwn_ping(slack: SlackHarness) -> None:
    loud = slack.post("<!channel> SEV1 declared")["ts"]
    bare = slack.post("fallback", blocks=[mrkdwn("@here please look")])["ts"]
    verbatim = slack.post("fallback", blocks=[mrkdwn("@here please look", verbatim=True)])["ts"]

    assert slack.emulator.pings(slack.channel, loud) == {"!channel"}
    assert slack.emulator.pings(slack.channel, bare) == {"!here"}
    assert slack.emulator.pings(slack.channel, verbatim) == set()


def test_link_names_turns_bare_mentions_in_text_into_pings(slack: SlackHarness) -> None:
    quiet = slack.post("@channel look")["ts"]
    linked = slack.post("@channel look", link_names=True)["ts"]
    parsed = slack.post("@everyone look", parse="full")["ts"]

    assert slack.emulator.pings(slack.channel, quiet) == set()
    assert slack.emulator.pings(slack.channel, linked) == {"!channel"}
    assert slack.emulator.pings(slack.channel, parsed) == {"!everyone"}


def test_an_edit_does_not_take_back_a_ping_the_post_sent(slack: SlackHarness) -> None:
    """A ping is a notification sent when the message is posted: editing the mention away
    later does not unsend it."""
    ts = slack.post("<!here> look")["ts"]

    slack.bot.chat_update(channel=slack.channel, ts=ts, text="all quiet")

    assert slack.emulator.pings(slack.channel, ts) == {"!here"}
    assert slack.emulator.edit_pings(slack.channel, ts) == set()


def test_a_mention_an_edit_adds_is_recorded_apart_from_the_posts_pings(
    slack: SlackHarness,
) -> None:
    """Whether Slack notifies for a mention added by an edit is not documented; the sandbox
    keeps such mentions apart, so a test can assert either way."""
    aiko, ben = "@" + slack.person_id(0), "@" + slack.person_id(1)
    ts = slack.post(f"commander <{aiko}>")["ts"]

    slack.bot.chat_update(channel=slack.channel, ts=ts, text=f"commander <{ben}>, was <{aiko}>")
    slack.bot.chat_update(
        channel=slack.channel, ts=ts, text="x", blocks=[mrkdwn("now @here too", verbatim=False)]
    )

    assert slack.emulator.pings(slack.channel, ts) == {aiko}
    assert slack.emulator.edit_pings(slack.channel, ts) == {ben, "!here"}


def test_pings_are_served_to_black_box_tests(slack: SlackHarness) -> None:
    ts = slack.post("hi <@" + slack.person_id(0) + ">")["ts"]
    reply = slack.post("<!everyone>", thread_ts=ts)["ts"]
    slack.bot.chat_update(channel=slack.channel, ts=reply, text="<!channel> instead")

    one = slack.admin(f"/_sandbox/pings?channel={slack.channel}&ts={ts}")
    every = slack.admin("/_sandbox/pings")

    assert one == {
        "channel": slack.channel,
        "ts": ts,
        "pings": ["@" + slack.person_id(0)],
        "edit_pings": [],
    }
    assert {
        "channel": slack.channel,
        "ts": reply,
        "pings": ["!everyone"],
        "edit_pings": ["!channel"],
    } in every
