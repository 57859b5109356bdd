"""Review of issue 15 (helper R): what a catch-up (reconnect, restart) does to the timeline
when people act while it reads, and what it lets a Slack Connect guest do.

Each test is a behaviour a responder would notice; they use the HTTP set-up of
tests/test_inbound_notes.py (signed events to /slack/events on the sandbox)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from tests.e2e.harness import Harness
from tests.test_inbound_notes import Slack, _incident, _listening, _notes, _settle
from worker.inbound.notes import Notes


@pytest.fixture
def slack(h: Harness) -> Iterator[Slack]:
    with _listening(h) as listening:
        yield listening


def _read_then(listening: Slack, monkeypatch: pytest.MonkeyPatch, meanwhile: Any) -> None:
    """The catch-up reads the thread, and `meanwhile` happens (with its events delivered)
    before the catch-up has applied what it read."""
    gateway = listening.inbound.intake.slack
    original = gateway.thread_history
    done: list[bool] = []

    def read(channel: str, thread_ts: str) -> list[dict[str, Any]]:
        messages = original(channel, thread_ts)
        if not done:
            done.append(True)
            meanwhile()
        return messages

    monkeypatch.setattr(gateway, "thread_history", read)


def test_a_reply_posted_while_the_catch_up_reads_its_thread_can_still_be_pinned(
    h: Harness,
    slack: Slack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page, thread = _incident(h)
    replies: list[dict[str, Any]] = []
    _read_then(slack, monkeypatch, lambda: replies.append(slack.reply("Ben", thread, "DB back")))
    Notes(slack.inbound.intake).catch_up()
    _settle(h)
    slack.pin("Chidi", replies[0])
    _settle(h)
    # The reply is not deleted: the catch-up read the thread before it was posted.
    (entry,) = _notes(h, page)
    assert "DB back" in entry
    assert "~~" not in entry


def test_a_pin_made_while_the_catch_up_reads_its_thread_is_kept(
    h: Harness,
    slack: Slack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page, thread = _incident(h)
    message = slack.reply("Ben", thread, "Failover started")
    _settle(h)
    _read_then(slack, monkeypatch, lambda: slack.pin("Chidi", message))
    Notes(slack.inbound.intake).catch_up()
    _settle(h)
    # The pin came after the read: the read's "not pinned" is older than it.
    (entry,) = _notes(h, page)
    assert "Failover started" in entry
    assert "~~" not in entry


def test_a_guests_pushpin_does_not_reach_the_timeline_through_the_catch_up(
    h: Harness,
    slack: Slack,
) -> None:
    page, thread = _incident(h)
    guest = h.box.workspace.slack_guest
    assert guest is not None
    message = slack.reply("Ben", thread, "Partner says their side is fine")
    _settle(h)
    # Live, a guest's 📌 is refused (the app's filter); Slack still shows it on the message.
    WebClient(token=guest.slack_token, base_url=h.box.slack_base_url).reactions_add(
        channel=h.channel, timestamp=message["ts"], name="pushpin"
    )
    _settle(h)
    assert _notes(h, page) == []
    Notes(slack.inbound.intake).catch_up()  # the worker reconnects
    _settle(h)
    assert _notes(h, page) == []
