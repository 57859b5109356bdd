"""Slack emulator: 429 + Retry-After per channel (chat.postMessage) and per method tier."""

from __future__ import annotations

import time

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.sandbox.slack_reference import serve_slack
from worker.sandbox.ratelimit import RateLimit


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_posting_faster_than_the_channel_allows_is_429_with_retry_after() -> None:
    clock = FakeClock()
    with serve_slack(post_rate=RateLimit(1.0, 2.0), clock=clock) as slack:
        slack.post("one")
        slack.post("two")

        with pytest.raises(SlackApiError) as failure:
            slack.post("three")

        answer = failure.value.response
        assert answer.status_code == 429
        assert answer.data == {"ok": False, "error": "ratelimited"}
        assert answer.headers["Retry-After"] == "1"
        assert [m["text"] for m in slack.emulator.channel_messages(slack.channel)] == ["one", "two"]
        general = slack.emulator.general_channel_id
        assert slack.bot.chat_postMessage(channel=general, text="elsewhere")["ok"] is True
        clock.now += 1.0
        assert slack.post("three")["ok"] is True


def test_slack_sdks_retry_handler_waits_and_then_succeeds() -> None:
    with serve_slack(post_rate=RateLimit(1.0, 1.0)) as slack:
        client = slack.client(slack.workspace.slack_token)
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
        client.chat_postMessage(channel=slack.channel, text="first")
        started = time.monotonic()

        second = client.chat_postMessage(channel=slack.channel, text="second")

        assert second["ok"] is True
        assert 0.9 < time.monotonic() - started < 5
        assert len(slack.emulator.channel_messages(slack.channel)) == 2


def test_tier_limits_count_per_method_and_token() -> None:
    clock = FakeClock()
    with serve_slack(tier_limits=True, clock=clock) as slack:
        for _ in range(20):  # conversations.list is Tier 2: 20 per minute
            slack.bot.conversations_list()

        with pytest.raises(SlackApiError) as failure:
            slack.bot.conversations_list()

        assert failure.value.response.status_code == 429
        assert failure.value.response["error"] == "ratelimited"
        assert int(failure.value.response.headers["Retry-After"]) == 3
        assert slack.person(0).conversations_list()["ok"] is True  # another token
        assert slack.bot.conversations_info(channel=slack.channel)["ok"] is True  # another method
        clock.now += 3
        assert slack.bot.conversations_list()["ok"] is True


def test_limits_can_be_switched_off_and_back_on_at_run_time() -> None:
    clock = FakeClock()
    with serve_slack(post_rate=RateLimit(1.0, 1.0), clock=clock) as slack:
        slack.emulator.set_rate_limits(post_rate=RateLimit(0, 0))
        for i in range(30):
            slack.post(str(i))
        slack.admin(
            "/_sandbox/rate_limits",
            {"post_rate": {"rate_per_s": 1, "burst": 1}, "tier_limits": True},
            method="PUT",
        )
        slack.post("allowed")

        with pytest.raises(SlackApiError) as failure:
            slack.post("refused")

        assert failure.value.response.status_code == 429
        assert slack.emulator.post_rate == RateLimit(1, 1)


def test_peoples_posts_do_not_use_up_the_bots_allowance_in_the_channel() -> None:
    """Slack counts chat.postMessage per app and channel ("1 per second per channel" for an
    app, docs.slack.dev rate-limits page; reference/slack/slack-api.md §4): people talking in
    the incident channel never use up the bot's allowance there."""
    clock = FakeClock()
    with serve_slack(post_rate=RateLimit(1.0, 2.0), clock=clock) as slack:
        for person in range(3):
            for n in range(2):
                slack.person(person).chat_postMessage(channel=slack.channel, text=f"on it {n}")

        assert slack.post("SEV1 declared")["ok"] is True
        assert slack.post("status → Identified")["ok"] is True
        with pytest.raises(SlackApiError) as failure:
            slack.post("one too many")
        with pytest.raises(SlackApiError) as theirs:
            slack.person(0).chat_postMessage(channel=slack.channel, text="and again")

        assert failure.value.response.status_code == 429
        assert theirs.value.response.status_code == 429
        assert len(slack.emulator.channel_messages(slack.channel)) == 8
