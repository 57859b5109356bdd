"""Thread → timeline: what people do to an incident thread's messages in Slack (pin, 📌, the
shortcut, edit, delete) shows in the incident's timeline page, once, as the message now is.

Slack's events are sent to the worker's `/slack/events` as Slack sends them (signed, the
shapes of reference/slack/inbound.md), about messages people really posted in the sandbox."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from tests.e2e.harness import Harness, page_markdown, select
from worker.inbound.notes import ADDED, CALLBACK_ID, NOT_IN_A_THREAD, Notes
from worker.inbound.service import Inbound
from worker.store import notes_table
from worker.web import WebServer, create_app

SECRET = "0123456789abcdef0123456789abcdef"


class Slack:
    """People acting in the sandbox's Slack, and the events Slack sends the worker for it."""

    def __init__(self, h: Harness, http: httpx.Client, inbound: Inbound) -> None:
        self.h = h
        self.http = http
        self.inbound = inbound
        self.sent: list[str] = []

    def client(self, who: str) -> WebClient:
        return WebClient(token=self.h.person(who).slack_token, base_url=self.h.box.slack_base_url)

    def reply(self, who: str, thread_ts: str, text: str) -> dict[str, Any]:
        """`who` replies in the thread; Slack tells the worker (a `message` event)."""
        posted = self.client(who).chat_postMessage(
            channel=self.h.channel, thread_ts=thread_ts, text=text
        )
        message = dict(posted["message"])
        message.setdefault("thread_ts", thread_ts)
        self.event(
            **{**message, "type": "message", "channel": self.h.channel, "channel_type": "channel",
               "event_ts": message["ts"]},
        )  # fmt: skip
        return message

    def edit(self, who: str, message: dict[str, Any], text: str) -> None:
        self.client(who).chat_update(channel=self.h.channel, ts=message["ts"], text=text)
        edited = {**message, "text": text, "edited": {"user": message["user"], "ts": _now()}}
        self.event(
            type="message", subtype="message_changed", hidden=True, channel=self.h.channel,
            channel_type="channel", message=edited, previous_message=message, event_ts=_now(),
        )  # fmt: skip

    def delete(self, who: str, message: dict[str, Any]) -> None:
        self.client(who).chat_delete(channel=self.h.channel, ts=message["ts"])
        self.event(
            type="message", subtype="message_deleted", hidden=True, channel=self.h.channel,
            channel_type="channel", deleted_ts=message["ts"], previous_message=message,
            event_ts=_now(),
        )  # fmt: skip

    def pin(self, who: str, message: dict[str, Any], *, on: bool = True) -> str:
        client = self.client(who)
        if on:
            client.pins_add(channel=self.h.channel, timestamp=message["ts"])
        else:
            client.pins_remove(channel=self.h.channel, timestamp=message["ts"])
        return self.event(
            type="pin_added" if on else "pin_removed", user=self.h.person(who).slack_id,
            channel_id=self.h.channel,
            item={"type": "message", "channel": self.h.channel, "message": message,
                  "created": int(time.time()), "created_by": self.h.person(who).slack_id},
            event_ts=_now(),
        )  # fmt: skip

    def react(self, who: str, message: dict[str, Any], *, on: bool = True) -> str:
        client = self.client(who)
        if on:
            client.reactions_add(channel=self.h.channel, timestamp=message["ts"], name="pushpin")
        else:
            client.reactions_remove(channel=self.h.channel, timestamp=message["ts"], name="pushpin")
        return self.event(
            type="reaction_added" if on else "reaction_removed",
            user=self.h.person(who).slack_id, reaction="pushpin", item_user=message.get("user"),
            item={"type": "message", "channel": self.h.channel, "ts": message["ts"]},
            event_ts=_now(),
        )  # fmt: skip

    def event(self, *, event_id: str | None = None, **fields: Any) -> str:
        """Slack's Events API request for `fields`; returns its event id (to send it again)."""
        event_id = event_id or f"Ev{time.monotonic_ns()}"
        body = json.dumps(
            {
                "type": "event_callback",
                "team_id": self.h.box.workspace.slack_team_id,
                "api_app_id": self.h.box.workspace.slack_app_id,
                "event_id": event_id,
                "event_time": int(time.time()),
                "event": fields,
            }
        )
        self._post(body, "application/json")
        self.sent.append(body)
        return event_id

    def again(self, event_id: str) -> None:
        """Slack delivers an event a second time (its ack was lost)."""
        (body,) = [b for b in self.sent if json.loads(b)["event_id"] == event_id]
        self._post(body, "application/json", retry=True)

    def shortcut(self, who: str, message: dict[str, Any]) -> None:
        person = self.h.person(who)
        payload = {
            "type": "message_action", "callback_id": CALLBACK_ID, "trigger_id": "13345224609.1",
            "action_ts": _now(), "team": {"id": self.h.box.workspace.slack_team_id},
            "user": {"id": person.slack_id, "team_id": self.h.box.workspace.slack_team_id},
            "channel": {"id": self.h.channel, "name": "incidents"}, "message": message,
            "response_url": "https://hooks.slack.com/app/T/1/x",
        }  # fmt: skip
        body = "payload=" + urllib.parse.quote(json.dumps(payload))
        self._post(body, "application/x-www-form-urlencoded")

    def _post(self, body: str, content_type: str, *, retry: bool = False) -> None:
        timestamp = str(int(time.time()))
        headers = {
            "x-slack-request-timestamp": timestamp,
            "x-slack-signature": SignatureVerifier(SECRET).generate_signature(
                timestamp=timestamp, body=body
            ),
            "content-type": content_type,
        }
        if retry:
            headers |= {"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}
        answer = self.http.post("/slack/events", content=body, headers=headers)
        assert answer.status_code == 200, answer.text


def _now() -> str:
    return f"{time.time():.6f}"


@contextmanager
def _listening(h: Harness, **env: str) -> Iterator[Slack]:
    """The worker (restarted with `env`) listening on `/slack/events` as `serve` runs it."""
    h.env.update(SLACK_SIGNING_SECRET=SECRET, **env)
    h.restart()
    inbound = Inbound.build(h.settings(), [h.runtime], h.runtime.slack, clock=h.runtime.clock)
    assert inbound is not None
    h.runtime.slack.auth()
    server = WebServer(
        create_app(h.runtime.metrics, h.runtime.health, routes=inbound.routes),
        host="127.0.0.1",
        port=0,
    ).start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=10) as http:
            yield Slack(h, http, inbound)
    finally:
        server.stop()
        inbound.stop()


@pytest.fixture
def slack(h: Harness) -> Iterator[Slack]:
    with _listening(h) as listening:
        yield listening


def _incident(h: Harness, name: str = "Checkout down") -> tuple[str, str]:
    page = h.declare("Aiko", name, Severity=select("SEV2"))
    h.poll()
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.thread_ts
    assert record.timeline_page_id
    return page, record.thread_ts


def _settle(h: Harness) -> None:
    """Two passes: a message read from Slack in the first has its entry written in the next."""
    h.poll()
    h.poll()


def _timeline(h: Harness, page: str) -> str:
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.timeline_page_id
    return page_markdown(h.box, record.timeline_page_id)


def _notes(h: Harness, page: str) -> list[str]:
    """The timeline's entries for thread messages (those with a link back to Slack)."""
    return [line for line in _timeline(h, page).splitlines() if "[Slack](" in line]


def test_a_pinned_reply_goes_to_the_timeline_with_its_author_and_formatting(
    h: Harness, slack: Slack
) -> None:
    page, thread = _incident(h)
    ben = h.person("Ben")
    message = slack.reply("Ben", thread, "Failover *done*, see <https://status.example.com|status>")
    _settle(h)
    assert _notes(h, page) == []  # written, not pinned: not for the timeline
    slack.pin("Chidi", message)
    _settle(h)
    (entry,) = _notes(h, page)
    assert f"[@{ben.name}](notion-user:{ben.notion_id})" in entry
    assert "Failover **done**, see [status](https://status.example.com)" in entry
    assert f"p{message['ts'].replace('.', '')}?thread_ts={thread}" in entry


def test_a_pushpin_sends_a_reply_and_removing_the_last_one_strikes_it_through(
    h: Harness, slack: Slack
) -> None:
    page, thread = _incident(h)
    message = slack.reply("Ben", thread, "Rolled back deploy 4812")
    slack.react("Chidi", message)
    slack.react("Aiko", message)
    _settle(h)
    (entry,) = _notes(h, page)
    assert "Rolled back deploy 4812" in entry
    assert "~~" not in entry
    slack.react("Chidi", message, on=False)
    _settle(h)
    assert "~~" not in _notes(h, page)[0]  # Aiko's 📌 is still on it
    slack.react("Aiko", message, on=False)
    _settle(h)
    (entry,) = _notes(h, page)
    assert "~~" in entry
    assert "Rolled back deploy 4812" in entry
    slack.react("Aiko", message)
    _settle(h)
    assert "~~" not in _notes(h, page)[0]  # wanted again: plain, still one entry


def test_an_unpin_strikes_the_entry_through(h: Harness, slack: Slack) -> None:
    page, thread = _incident(h)
    message = slack.reply("Ben", thread, "Customers notified")
    slack.pin("Ben", message)
    _settle(h)
    slack.pin("Ben", message, on=False)
    _settle(h)
    (entry,) = _notes(h, page)
    assert "~~" in entry


def test_an_edit_rewrites_the_entry_in_place(h: Harness, slack: Slack) -> None:
    page, thread = _incident(h)
    message = slack.reply("Ben", thread, "Error rate 30%")
    slack.pin("Ben", message)
    _settle(h)
    slack.reply("Chidi", thread, "A later reply")  # the entry stays where it is
    slack.edit("Ben", message, "Error rate 3% (typo)")
    _settle(h)
    assert [line for line in _notes(h, page) if "Error rate" in line] == [_notes(h, page)[0]]
    assert "Error rate 3% (typo)" in _notes(h, page)[0]
    assert "30%" not in _timeline(h, page)


def test_a_deleted_message_is_struck_through(h: Harness, slack: Slack) -> None:
    page, thread = _incident(h)
    message = slack.reply("Ben", thread, "Wrong thread, sorry")
    slack.pin("Ben", message)
    _settle(h)
    slack.delete("Ben", message)
    _settle(h)
    (entry,) = _notes(h, page)
    assert "~~" in entry


def test_an_event_delivered_twice_adds_one_entry(h: Harness, slack: Slack) -> None:
    page, thread = _incident(h)
    message = slack.reply("Ben", thread, "Cache flushed")
    pinned = slack.pin("Ben", message)
    slack.again(pinned)
    _settle(h)
    slack.again(pinned)
    _settle(h)
    assert len(_notes(h, page)) == 1
    keys = [a.key for a in h.runtime.store.actions_for(page) if a.kind == "timeline_note"]
    assert len(keys) == len(set(keys)) == 1


def test_the_shortcut_sends_a_reply_and_tells_who_used_it(h: Harness, slack: Slack) -> None:
    page, thread = _incident(h)
    message = slack.reply("Ben", thread, "Root cause: expired certificate")
    slack.shortcut("Chidi", message)
    _settle(h)
    (entry,) = _notes(h, page)
    assert "Root cause: expired certificate" in entry
    told = [m["text"] for m in h.box.slack.ephemeral_messages()]
    assert ADDED in told


def test_the_shortcut_elsewhere_says_where_it_works(h: Harness, slack: Slack) -> None:
    _incident(h)
    top = slack.client("Ben").chat_postMessage(channel=h.channel, text="Lunch?")["message"]
    slack.shortcut("Ben", dict(top))
    told = [m["text"] for m in h.box.slack.ephemeral_messages()]
    assert NOT_IN_A_THREAD in told


def test_with_capture_all_every_reply_of_people_goes(h: Harness) -> None:
    with _listening(h, TIMELINE_CAPTURE="all") as slack:
        page, thread = _incident(h)
        slack.reply("Ben", thread, "first")
        slack.reply("Chidi", thread, "second")
        _settle(h)
    notes = _notes(h, page)
    assert [("first" in n, "second" in n) for n in notes] == [(True, False), (False, True)]


def test_a_reply_pinned_while_the_worker_was_not_listening_is_caught_up(
    h: Harness, slack: Slack
) -> None:
    page, thread = _incident(h)
    # Nobody listens: the reply and its 📌 never reach the worker as events.
    client = slack.client("Ben")
    ts = client.chat_postMessage(channel=h.channel, thread_ts=thread, text="Paged DBA")["ts"]
    slack.client("Chidi").reactions_add(channel=h.channel, timestamp=ts, name="pushpin")
    slack.client("Chidi").chat_postMessage(channel=h.channel, thread_ts=thread, text="ack")
    # Then the worker (re)connects: what it registered to run then reads the threads back.
    notes = Notes(slack.inbound.intake)
    assert notes.catch_up() == 2
    _settle(h)
    (entry,) = _notes(h, page)
    assert "Paged DBA" in entry
    assert notes.catch_up() == 2  # again (another reconnect): nothing added twice
    _settle(h)
    assert len(_notes(h, page)) == 1


def test_a_long_many_line_message_is_one_entry_notion_takes(h: Harness, slack: Slack) -> None:
    page, thread = _incident(h)
    lines = [
        f"*step {n}*: `kubectl rollout undo deploy/api-{n}` :white_check_mark:" for n in range(150)
    ]
    message = slack.reply("Ben", thread, "\n".join(lines))
    slack.pin("Ben", message)
    _settle(h)
    (entry_start, *_rest) = [line for line in _timeline(h, page).splitlines() if "step 0" in line]
    markdown = _timeline(h, page)
    assert "step 149" in markdown
    assert "✅" in markdown
    assert entry_start


def test_the_postmortem_includes_the_notes(h: Harness, slack: Slack) -> None:
    page, thread = _incident(h)
    message = slack.reply("Ben", thread, "Disabled the feature flag")
    slack.pin("Ben", message)
    _settle(h)
    h.edit("Ben", page, Status=select("Resolved"))
    _settle(h)
    _settle(h)
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.postmortem_page_id
    assert "Disabled the feature flag" in page_markdown(h.box, record.postmortem_page_id)


def test_with_the_timeline_page_in_the_trash_the_postmortem_still_has_the_notes(
    h: Harness, slack: Slack
) -> None:
    page, thread = _incident(h)
    before = slack.reply("Ben", thread, "Disabled the feature flag")
    slack.pin("Ben", before)
    _settle(h)
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.timeline_page_id
    client = h.client("Aiko")
    client.pages.update(page_id=record.timeline_page_id, in_trash=True)
    client.close()
    after = slack.reply("Chidi", thread, "Error rate back to 0.1%")
    slack.react("Chidi", after)
    _settle(h)
    h.edit("Ben", page, Status=select("Resolved"))
    _settle(h)
    done = h.runtime.store.get_record(page)
    assert done is not None
    assert done.postmortem_page_id
    postmortem = page_markdown(h.box, done.postmortem_page_id)
    assert "Disabled the feature flag" in postmortem
    assert "Error rate back to 0.1%" in postmortem


def test_a_message_pinned_late_takes_its_place_in_time(h: Harness, slack: Slack) -> None:
    page, thread = _incident(h)
    first = slack.reply("Ben", thread, "Saw errors at the load balancer")
    second = slack.reply("Chidi", thread, "Rolled back")
    slack.pin("Chidi", second)
    _settle(h)
    slack.pin("Ben", first)  # pinned after the later one: its entry still goes before it
    _settle(h)
    entries = _notes(h, page)
    assert ["load balancer" in e for e in entries] == [True, False]
    h.edit("Ben", page, Severity=select("SEV1"))  # a change after both: after them
    _settle(h)
    timeline = _timeline(h, page)
    assert timeline.index("Rolled back") < timeline.index("SEV2 → SEV1")
    third = slack.reply("Ben", thread, "Customers notified")
    slack.pin("Ben", third)
    _settle(h)
    assert _timeline(h, page).index("SEV2 → SEV1") < _timeline(h, page).index("notified")


def test_after_the_worker_lost_its_notes_the_catch_up_adds_nothing_twice(
    h: Harness, slack: Slack
) -> None:
    page, thread = _incident(h)
    message = slack.reply("Ben", thread, "Paged the DBA")
    slack.pin("Ben", message)
    _settle(h)
    assert len(_notes(h, page)) == 1
    with h.runtime.store.transaction() as conn:  # the notes' facts are gone (a lost state)
        conn.execute(notes_table.delete())
    slack.edit("Ben", message, "Paged the DBA (on call: Dana)")  # meanwhile, unheard
    assert Notes(slack.inbound.intake).catch_up() == 1
    _settle(h)
    (entry,) = _notes(h, page)
    assert "Paged the DBA (on call: Dana)" in entry  # the entry found again, brought up to date


def test_a_connection_made_during_a_catch_up_has_another_follow(
    h: Harness, slack: Slack, monkeypatch: pytest.MonkeyPatch
) -> None:
    _incident(h)
    gateway = slack.inbound.intake.slack
    reading, go_on = threading.Event(), threading.Event()
    reads: list[str] = []
    original = gateway.thread_history

    def slow(channel: str, thread_ts: str) -> list[dict[str, Any]]:
        reads.append(thread_ts)
        reading.set()
        go_on.wait(5)
        return original(channel, thread_ts)

    monkeypatch.setattr(gateway, "thread_history", slow)
    notes = Notes(slack.inbound.intake)
    first = threading.Thread(target=notes.catch_up)
    first.start()
    assert reading.wait(5)
    assert notes.catch_up() == 0  # one is under way: it goes again once done
    go_on.set()
    first.join(10)
    assert len(reads) == 2
