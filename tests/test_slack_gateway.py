"""Slack gateway: which failures are retried in place, which wait for the outbox, and which
may have posted (found by the chaos benchmark); how people are named in a message."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.factories import settings
from tests.sandbox.slack_reference import SlackHarness, catalog_tier, serve_slack
from worker.errors import ServiceError
from worker.messages import SlackMessage
from worker.plan import thread_ts_from_permalink
from worker.sandbox.server import ServedApp
from worker.sandbox.slack.pings import message_pings
from worker.slack import METHOD_TIERS, SlackGateway, SlackPacing
from worker.snapshot import Person

Answer = tuple[int, dict[str, Any], dict[str, str]]
OK: Answer = (200, {"ok": True}, {})
SERVER_ERROR: Answer = (500, {"ok": False, "error": "internal_error"}, {})
# A long Retry-After: not waited out in place, handed back to the outbox at once.
RATE_LIMITED: Answer = (429, {"ok": False, "error": "ratelimited"}, {"retry-after": "30"})


class ScriptedSlack:
    """Answers each Web API method from a script, then `ok`; counts the calls."""

    def __init__(self) -> None:
        self.script: dict[str, list[Answer]] = {}
        self.calls: dict[str, int] = {}
        self.app = Starlette(routes=[Route("/api/{method}", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        self.calls[method] = self.calls.get(method, 0) + 1
        queue = self.script.get(method) or []
        status, body, headers = queue.pop(0) if queue else OK
        if status == 200 and body.get("ok"):
            body = {**body, **_SUCCESS.get(method, {})}
        return JSONResponse(body, status_code=status, headers=headers)


_SUCCESS: dict[str, dict[str, Any]] = {
    "users.lookupByEmail": {"user": {"id": "U0BEN"}},
    "chat.postMessage": {"ts": "1700000000.000100", "channel": "C0INCIDENTS"},
    "conversations.replies": {"messages": [], "has_more": False},
}


@pytest.fixture
def slack() -> Iterator[tuple[SlackGateway, ScriptedSlack]]:
    fake = ScriptedSlack()
    served = ServedApp(fake.app)
    served.start()
    try:
        gateway = SlackGateway.build(
            settings(SLACK_BASE_URL=served.url + "/api/", SLACK_TIMEOUT="2s")
        )
        yield gateway, fake
    finally:
        served.stop()


BEN = Person(id="p-ben", name="Ben Carter", email="ben@example.com")


def test_a_passing_lookup_failure_is_raised_so_the_message_waits_for_the_mention(
    slack: tuple[SlackGateway, ScriptedSlack],
) -> None:
    gateway, fake = slack
    fake.script["users.lookupByEmail"] = [RATE_LIMITED]
    with pytest.raises(ServiceError) as failure:
        gateway.mention(BEN)
    assert failure.value.retryable
    assert not failure.value.outcome_unknown  # a lookup posts nothing
    assert gateway.mention(BEN) == "<@U0BEN>"  # the retry renders the proper mention


def test_a_lasting_lookup_failure_falls_back_to_the_name(
    slack: tuple[SlackGateway, ScriptedSlack],
) -> None:
    gateway, fake = slack
    fake.script["users.lookupByEmail"] = [(200, {"ok": False, "error": "missing_scope"}, {})]
    assert gateway.mention(BEN) == "Ben Carter"


def test_server_errors_are_retried_in_place_except_for_posts(
    slack: tuple[SlackGateway, ScriptedSlack], caplog: pytest.LogCaptureFixture
) -> None:
    gateway, fake = slack
    fake.script["chat.update"] = [SERVER_ERROR]
    with caplog.at_level(logging.WARNING, logger="worker.slack"):
        gateway.update("C0INCIDENTS", "1700000000.000100", SlackMessage(text="hi", blocks=[]))
    assert fake.calls["chat.update"] == 2
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert retries == ["slack: retrying chat.update after HTTP 500 (request id -)"]

    fake.script["chat.postMessage"] = [SERVER_ERROR]
    with pytest.raises(ServiceError) as failure:
        gateway.post("C0INCIDENTS", SlackMessage(text="hi", blocks=[]), key="k")
    assert fake.calls["chat.postMessage"] == 1  # a repeat could double the message
    assert failure.value.outcome_unknown  # the outbox reconciles before trying again


def test_each_call_and_each_repeat_is_reported_to_the_callbacks() -> None:
    """What /metrics counts (the runtime hands in the callbacks)."""
    fake = ScriptedSlack()
    fake.script["chat.update"] = [SERVER_ERROR]
    fake.script["users.lookupByEmail"] = [RATE_LIMITED]
    heard: list[tuple[str, int | None, str | None]] = []
    retries: list[str] = []
    served = ServedApp(fake.app)
    served.start()
    try:
        gateway = SlackGateway.build(
            settings(SLACK_BASE_URL=served.url + "/api/", SLACK_TIMEOUT="2s"),
            on_response=lambda method, status, error: heard.append((method, status, error)),
            on_retry=lambda: retries.append("retry"),
        )
        gateway.update("C0INCIDENTS", "1700000000.000100", SlackMessage(text="hi", blocks=[]))
        with pytest.raises(ServiceError):
            gateway.mention(BEN)
    finally:
        served.stop()
    assert retries == ["retry"]  # the 500 was repeated in place
    assert heard == [("chat.update", 200, None), ("users.lookupByEmail", 429, "ratelimited")]


def test_a_failure_of_the_first_reconciliation_request_is_a_service_error(
    slack: tuple[SlackGateway, ScriptedSlack],
) -> None:
    gateway, fake = slack
    fake.script["conversations.replies"] = [RATE_LIMITED]
    with pytest.raises(ServiceError) as failure:
        gateway.find_posted("C0INCIDENTS", "k", thread_ts="1700000000.000100")
    assert failure.value.operation == "conversations.replies"
    assert failure.value.retryable
    assert failure.value.retry_after_s == 30.0
    assert gateway.find_posted("C0INCIDENTS", "k", thread_ts="1700000000.000100") is None


def test_the_paced_methods_are_in_slacks_published_tiers() -> None:
    for method, tier in METHOD_TIERS.items():
        assert catalog_tier(method) == tier, method


def test_a_run_of_parent_updates_is_paced_to_the_tier_not_sent_into_429s(
    slack: tuple[SlackGateway, ScriptedSlack],
) -> None:
    """chat.update is Tier 3 (50 a minute): a burst of ten goes at once, then one every
    1.2 s, on our side, instead of Slack answering 429 and the outbox backing off."""
    served, fake = slack
    waits: list[float] = []
    pacing = SlackPacing.for_settings(served.settings, sleep=waits.append)
    gateway = SlackGateway.build(served.settings, pacing=pacing)
    message = SlackMessage(text="x", blocks=[])
    for _ in range(12):
        gateway.update("C0INCIDENTS", "1700000000.000100", message)
    assert fake.calls["chat.update"] == 12
    assert len(waits) == 2
    assert all(1.0 < w <= 1.2 * 2 for w in waits)
    # Slack counts each method apart: another Tier 3 method is not held up by them.
    gateway.join("C0INCIDENTS")
    assert len(waits) == 2


# -- what a failure tells the operator (against the Slack emulator) ---------------------------


def _gateway_on(box: SlackHarness) -> SlackGateway:
    env = {"SLACK_BASE_URL": box.base_url, "SLACK_BOT_TOKEN": box.workspace.slack_token}
    return SlackGateway.build(settings(SLACK_CHANNEL_ID=box.channel, **env))


def test_a_slack_failure_carries_slacks_request_id_for_support() -> None:
    """Slack sends `x-slack-req-id` with every answer; a failure the worker logs names it."""
    with serve_slack() as box:
        gateway = _gateway_on(box)
        box.emulator.archive_channel(box.channel)
        with pytest.raises(ServiceError) as failure:
            gateway.post(box.channel, SlackMessage(text="SEV2", blocks=[]), key="k1")

    assert failure.value.code == "is_archived"
    assert re.fullmatch(r"[0-9a-f-]{36}", failure.value.request_id)
    assert f"(request id {failure.value.request_id})" in str(failure.value)


def test_a_missing_scope_names_the_scope_slack_asks_for() -> None:
    with serve_slack() as box:
        gateway = _gateway_on(box)
        private = box.emulator.create_channel("incidents-private", bot_is_member=True)
        with pytest.raises(ServiceError) as failure:
            gateway.find_posted(private, "k1")

    assert failure.value.code == "missing_scope"
    assert "the app lacks groups:history" in str(failure.value)
    assert "reinstall" in str(failure.value)


# --- a person named like a mention --------------------------------------------------------

EVIL = (
    "<!channel> <!here> <!everyone> <@U0000000000> <!subteam^S0000|@oncall> @here &lt;!channel&gt;"
)
EVIL_PERSON = Person(id="99999999-9999-4999-8999-999999999999", name=EVIL)


def _slack_gateway() -> SlackGateway:
    # People without an email never reach the network: their name is shown, escaped.
    return SlackGateway(
        WebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/api/"), settings()
    )


def _control_free(text: str) -> bool:
    return message_pings(text, None, None, parse_names=True) == set()


def test_a_person_named_like_a_mention_is_shown_as_text() -> None:
    gateway = _slack_gateway()
    shown = gateway.mention(EVIL_PERSON)
    assert _control_free(shown)
    assert gateway.requests == 0  # no email: no lookup


AUTH = {"url": "https://acme.slack.com/", "team": "Acme", "user_id": "U0BOT", "bot_id": "B0BOT"}
GOT_PERMALINK = {"permalink": "https://acme.slack.com/archives/C0INCIDENTS/p1700000000000100"}


@pytest.mark.parametrize(
    ("auth", "calls"),
    [
        # auth.test, asked once (the runtime asks it when it starts): no call per thread.
        (AUTH, {"auth.test": 1}),
        # No workspace URL to build it from, or an organisation's (Enterprise Grid): asked.
        ({**AUTH, "url": ""}, {"auth.test": 1, "chat.getPermalink": 2}),
        ({**AUTH, "is_enterprise_install": True}, {"auth.test": 1, "chat.getPermalink": 2}),
    ],
)
def test_a_threads_link_is_built_from_the_workspace_url_and_asked_for_only_without_one(
    slack: tuple[SlackGateway, ScriptedSlack], auth: dict[str, Any], calls: dict[str, int]
) -> None:
    gateway, fake = slack
    fake.script["auth.test"] = [(200, {"ok": True, **auth}, {})]
    fake.script["chat.getPermalink"] = [(200, {"ok": True, **GOT_PERMALINK}, {})] * 2
    links = [gateway.thread_link("C0INCIDENTS", "1700000000.000100") for _ in range(2)]
    assert links == [GOT_PERMALINK["permalink"]] * 2
    assert thread_ts_from_permalink(links[0]) == "1700000000.000100"
    assert fake.calls == calls


# --- what the timeline needs of a thread message (against the Slack emulator) ----------------


def test_a_replys_thread_its_permalink_and_its_author_are_found() -> None:
    with serve_slack() as box:
        gateway = _gateway_on(box)
        gateway.join(box.channel)
        parent = box.post("SEV2 Checkout down")["ts"]
        reply = box.person(0).chat_postMessage(channel=box.channel, thread_ts=parent, text="hi")
        person = box.workspace.people[0]
        assert gateway.thread_of(box.channel, reply["ts"]) == parent
        assert gateway.thread_of(box.channel, parent) == parent
        assert gateway.thread_of(box.channel, "1000000000.000100") is None
        link = gateway.reply_link(box.channel, reply["ts"], parent)
        assert link.endswith(
            f"/archives/{box.channel}/p{reply['ts'].replace('.', '')}"
            f"?thread_ts={parent}&cid={box.channel}"
        )
        assert gateway.user_info(person.slack_id) == (person.name, person.email)
        calls = gateway.requests
        assert gateway.user_info(person.slack_id) == (person.name, person.email)
        assert gateway.requests == calls  # asked once
        assert gateway.user_info("U0NOBODY00") is None


# -- what the buttons' handlers ask of Slack ---------------------------------------------------


def test_someone_who_acted_from_slack_is_mentioned_by_their_id_without_a_lookup(
    slack: tuple[SlackGateway, ScriptedSlack],
) -> None:
    gateway, fake = slack
    clicker = Person(id="slack:U0CLICK", name="Ben <!channel>", slack_id="U0CLICK")
    assert gateway.mention(clicker) == "<@U0CLICK>"
    forged = Person(id="x", name="Ben", slack_id="<!channel>")
    assert gateway.mention(forged) == "Ben"  # only a user id becomes a mention
    assert fake.calls == {}


def test_a_person_their_team_and_email_and_an_answer_only_they_see() -> None:
    with serve_slack() as box:
        gateway = _gateway_on(box)
        ben = box.workspace.person("Ben")
        user = gateway.slack_user(ben.slack_id)
        assert (user.id, user.name, user.email) == (ben.slack_id, ben.name, ben.email)
        assert user.team_id == box.workspace.slack_team_id
        gateway.ephemeral(box.channel, ben.slack_id, "Nothing was changed.")
        told = box.emulator.ephemeral_messages()
    assert [(m["user"], m["text"]) for m in told] == [(ben.slack_id, "Nothing was changed.")]
