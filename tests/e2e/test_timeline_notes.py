"""End to end: thread messages reach the timeline from what people really do in Slack — the
sandbox sends the worker Slack's own events, over Socket Mode or signed HTTP — once each, as
the message now is, whatever the transport redelivers or misses while the worker is away."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import pytest
from slack_sdk import WebClient

from tests.e2e.harness import Harness, fast_options, page_markdown, select
from worker.errors import ServiceError
from worker.inbound.notes import CALLBACK_ID
from worker.inbound.service import Inbound
from worker.notion import NotionGateway
from worker.sandbox import Sandbox
from worker.web import WebServer, create_app

Transport = Literal["socket", "http"]


@contextmanager
def listening(h: Harness, transport: Transport, **env: str) -> Iterator[Inbound]:
    """The worker (restarted with `env`) hearing Slack over `transport`, as `run` / `serve`
    set it up: Socket Mode with the app-level token, or `/slack/events` as the events URL."""
    workspace = h.box.workspace
    for key in ("SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        h.env.pop(key, None)
    if transport == "socket":
        h.env["SLACK_APP_TOKEN"] = workspace.slack_app_token
    else:
        h.env["SLACK_SIGNING_SECRET"] = workspace.slack_signing_secret
    h.env.update(env)
    h.restart()
    h.runtime.slack.auth()
    inbound = Inbound.build(h.settings(), [h.runtime], h.runtime.slack, clock=h.runtime.clock)
    assert inbound is not None
    server = None
    if transport == "http":
        app = create_app(h.runtime.metrics, h.runtime.health, routes=inbound.routes)
        server = WebServer(app, host="127.0.0.1", port=0).start()
        h.box.slack.set_events_url(f"http://127.0.0.1:{server.port}/slack/events")
    inbound.start()
    if transport == "socket":
        wait_for(lambda: h.box.slack.socket_count() > 0)
    try:
        yield inbound
    finally:
        inbound.stop()
        h.box.slack.set_events_url(None)
        if server is not None:
            server.stop()


@pytest.fixture(params=["socket", "http"])
def transport(request: pytest.FixtureRequest) -> Transport:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def box() -> Iterator[Sandbox]:
    """Redeliveries within a test's patience (Slack waits minutes between retries)."""
    options = fast_options(event_retry_delays_s=(0.0, 0.2, 0.5), socket_ack_timeout_s=1.0)
    with Sandbox(options) as sandbox:
        yield sandbox


@pytest.fixture
def heard(h: Harness, transport: Transport) -> Iterator[Inbound]:
    with listening(h, transport) as inbound:
        yield inbound


def wait_for(condition: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def delivered(h: Harness, since: int = 0) -> None:
    """Every event so far (from the `since`th on) acknowledged by the worker (its work
    recorded), then carried out."""
    wait_for(lambda: all(d["finished"] for d in h.box.slack.deliveries()[since:]), timeout_s=20)
    assert all(d["acked"] for d in h.box.slack.deliveries()[since:])
    h.poll()
    h.poll()


def person(h: Harness, who: str) -> WebClient:
    return WebClient(token=h.person(who).slack_token, base_url=h.box.slack_base_url)


def incident(h: Harness, name: str = "Checkout down") -> tuple[str, str]:
    page = h.declare("Aiko", name, Severity=select("SEV2"))
    h.poll()
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.thread_ts
    return page, record.thread_ts


def reply(h: Harness, who: str, thread: str, text: str) -> str:
    return str(
        person(h, who).chat_postMessage(channel=h.channel, thread_ts=thread, text=text)["ts"]
    )


def notes(h: Harness, page: str) -> list[str]:
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.timeline_page_id
    markdown = page_markdown(h.box, record.timeline_page_id)
    return [line for line in markdown.splitlines() if "[Slack](" in line]


def test_a_pinned_reply(h: Harness, heard: Inbound) -> None:
    page, thread = incident(h)
    ts = reply(h, "Ben", thread, "Failover *done* :white_check_mark:")
    person(h, "Chidi").pins_add(channel=h.channel, timestamp=ts)
    delivered(h)
    (entry,) = notes(h, page)
    assert "Failover **done** ✅" in entry
    assert f"notion-user:{h.person('Ben').notion_id}" in entry


def test_a_pushpin_then_removing_the_last_one(h: Harness, heard: Inbound) -> None:
    page, thread = incident(h)
    ts = reply(h, "Ben", thread, "Rolled back deploy 4812")
    for who in ("Chidi", "Aiko"):
        person(h, who).reactions_add(channel=h.channel, timestamp=ts, name="pushpin")
    delivered(h)
    assert "~~" not in notes(h, page)[0]
    person(h, "Chidi").reactions_remove(channel=h.channel, timestamp=ts, name="pushpin")
    delivered(h)
    assert "~~" not in notes(h, page)[0]
    person(h, "Aiko").reactions_remove(channel=h.channel, timestamp=ts, name="pushpin")
    delivered(h)
    (entry,) = notes(h, page)
    assert "~~" in entry


def test_an_unpin(h: Harness, heard: Inbound) -> None:
    page, thread = incident(h)
    ts = reply(h, "Ben", thread, "Customers notified")
    person(h, "Ben").pins_add(channel=h.channel, timestamp=ts)
    delivered(h)
    person(h, "Ben").pins_remove(channel=h.channel, timestamp=ts)
    delivered(h)
    (entry,) = notes(h, page)
    assert "~~" in entry


def test_an_edit(h: Harness, heard: Inbound) -> None:
    page, thread = incident(h)
    ts = reply(h, "Ben", thread, "Error rate 30%")
    person(h, "Ben").pins_add(channel=h.channel, timestamp=ts)
    delivered(h)
    person(h, "Ben").chat_update(channel=h.channel, ts=ts, text="Error rate 3% (typo)")
    delivered(h)
    (entry,) = notes(h, page)
    assert "Error rate 3% (typo)" in entry


def test_the_shortcut(h: Harness, heard: Inbound) -> None:
    page, thread = incident(h)
    ts = reply(h, "Ben", thread, "Root cause: expired certificate")
    answer = h.box.slack.shortcut(
        h.person("Chidi").slack_id, CALLBACK_ID, channel=h.channel, message_ts=ts
    )
    assert answer["acked"]
    delivered(h)
    (entry,) = notes(h, page)
    assert "Root cause: expired certificate" in entry


def test_a_redelivered_event_adds_nothing_twice(
    h: Harness, transport: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker records the pin, then answers too late: Slack sends the event again."""
    with listening(h, transport) as inbound:
        page, thread = incident(h)
        ts = reply(h, "Ben", thread, "Cache flushed")
        delivered(h)
        store = inbound.intake.desks[0].store
        record_then_stall = _slow_once(store.change_note, seconds=SLOWER_THAN_AN_ACK_S)
        monkeypatch.setattr(store, "change_note", record_then_stall)
        person(h, "Ben").pins_add(channel=h.channel, timestamp=ts)
        pin = wait_for(lambda: _delivery(h, "pin_added"))
        wait_for(lambda: len(_delivery(h, "pin_added")["attempts"]) > 1, timeout_s=15)
        delivered(h)
        assert pin["event_id"]
    assert len(notes(h, page)) == 1
    keys = [a.key for a in h.runtime.store.actions_for(page) if a.kind == "timeline_note"]
    assert len(keys) == 1


# Longer than the sandbox waits for an answer (HTTP 3 s, a socket's ack 1 s here).
SLOWER_THAN_AN_ACK_S = 3.5


def _slow_once(change: Callable[..., Any], *, seconds: float) -> Callable[..., Any]:
    calls = {"n": 0}

    def slow(*args: Any, **kwargs: Any) -> Any:
        done = change(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:
            time.sleep(seconds)
        return done

    return slow


def _delivery(h: Harness, event_type: str) -> dict[str, Any] | None:
    found = [d for d in h.box.slack.deliveries() if d["event_type"] == event_type]
    return found[-1] if found else None


def test_capture_all(h: Harness, transport: Transport) -> None:
    with listening(h, transport, TIMELINE_CAPTURE="all"):
        page, thread = incident(h)
        reply(h, "Ben", thread, "first")
        reply(h, "Chidi", thread, "second")
        delivered(h)
    entries = notes(h, page)
    assert [("first" in e, "second" in e) for e in entries] == [(True, False), (False, True)]


def test_pinned_while_the_worker_was_away(h: Harness, transport: Transport) -> None:
    """Slack gave up on the worker while it was down (every retry failed): the reply and its
    pin reach the timeline from the catch-up that follows the (re)connection, once."""
    page, thread = incident(h)
    h.box.slack.set_events_url("http://127.0.0.1:9/slack/events")  # nobody answers there
    ts = reply(h, "Ben", thread, "Paged the DBA")
    person(h, "Chidi").pins_add(channel=h.channel, timestamp=ts)
    wait_for(lambda: all(d["finished"] for d in h.box.slack.deliveries()), timeout_s=20)
    lost = len(h.box.slack.deliveries())
    assert not any(d["acked"] for d in h.box.slack.deliveries()[-2:])
    with listening(h, transport):
        wait_for(lambda: notes_after_passes(h, page), timeout_s=15)
        (entry,) = notes(h, page)
        assert "Paged the DBA" in entry
        if transport == "socket":
            h.box.slack.disconnect_sockets()  # a reconnect catches up again: nothing twice
            wait_for(lambda: h.box.slack.socket_count() > 0)
        delivered(h, since=lost)
    assert len(notes(h, page)) == 1


def notes_after_passes(h: Harness, page: str) -> list[str]:
    h.poll()
    return notes(h, page)


def test_a_long_many_line_message(h: Harness, heard: Inbound) -> None:
    page, thread = incident(h)
    text = "\n".join(
        f"*{n}.* `kubectl rollout undo deploy/api-{n}` <@{h.person('Ben').slack_id}>"
        for n in range(120)
    )
    ts = reply(h, "Chidi", thread, text)
    person(h, "Chidi").pins_add(channel=h.channel, timestamp=ts)
    delivered(h)
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.timeline_page_id
    markdown = page_markdown(h.box, record.timeline_page_id)
    assert "api-0" in markdown
    assert "api-119" in markdown


def test_the_postmortem_has_the_notes(h: Harness, heard: Inbound) -> None:
    page, thread = incident(h)
    ts = reply(h, "Ben", thread, "Disabled the feature flag")
    person(h, "Ben").reactions_add(channel=h.channel, timestamp=ts, name="pushpin")
    delivered(h)
    h.edit("Ben", page, Status=select("Resolved"))
    h.poll()
    h.poll()
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.postmortem_page_id
    assert "Disabled the feature flag" in page_markdown(h.box, record.postmortem_page_id)


def test_an_edit_while_the_entry_append_had_no_answer(
    h: Harness, heard: Inbound, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entry's append is carried out but its answer lost (a timeout; the worker killed),
    the reply is edited meanwhile: the retry finds the entry made with the old text and
    rewrites it — it must not take the entry as showing the new text."""
    page, thread = incident(h)
    ts = reply(h, "Ben", thread, "Error rate 30%")
    real_append = NotionGateway.append_blocks
    lost: list[str] = []

    def append_then_lose_the_answer(self: NotionGateway, *args: Any, **kwargs: Any) -> Any:
        answer = real_append(self, *args, **kwargs)
        if not lost and "Error rate 30%" in repr(args):
            lost.append("once")
            raise ServiceError(
                "notion",
                "blocks.children.append",
                "timed out",
                retryable=True,
                outcome_unknown=True,
            )
        return answer

    monkeypatch.setattr(NotionGateway, "append_blocks", append_then_lose_the_answer)
    person(h, "Ben").pins_add(channel=h.channel, timestamp=ts)
    delivered(h)
    assert lost, "the append was made and its answer lost"
    person(h, "Ben").chat_update(channel=h.channel, ts=ts, text="Error rate 3% (typo)")
    delivered(h)
    wait_for(lambda: (h.poll(), any("3% (typo)" in n for n in notes(h, page)))[1], 15)
    (entry,) = notes(h, page)
    assert "Error rate 3% (typo)" in entry


def test_an_unpin_while_the_entry_append_had_no_answer(
    h: Harness, heard: Inbound, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entry's append is carried out but its answer lost, the reply unpinned meanwhile:
    the entry made is struck through, not left as if still pinned."""
    page, thread = incident(h)
    ts = reply(h, "Ben", thread, "Customers notified")
    real_append = NotionGateway.append_blocks
    lost: list[str] = []

    def append_then_lose_the_answer(self: NotionGateway, *args: Any, **kwargs: Any) -> Any:
        answer = real_append(self, *args, **kwargs)
        if not lost and "Customers notified" in repr(args):
            lost.append("once")
            raise ServiceError(
                "notion",
                "blocks.children.append",
                "timed out",
                retryable=True,
                outcome_unknown=True,
            )
        return answer

    monkeypatch.setattr(NotionGateway, "append_blocks", append_then_lose_the_answer)
    person(h, "Ben").pins_add(channel=h.channel, timestamp=ts)
    delivered(h)
    assert lost, "the append was made and its answer lost"
    person(h, "Ben").pins_remove(channel=h.channel, timestamp=ts)
    delivered(h)
    wait_for(lambda: (h.poll(), all("~~" in n for n in notes(h, page)))[1], 15)
    (entry,) = notes(h, page)
    assert "~~" in entry
