"""End to end: how a declared incident gets its thread, its timeline page and its links when
things go wrong in the middle (issue 14, item 2). The happy path is three Notion requests
(the page created with its first entry, the row read again, one write of the thread's link,
the dates and the page's link) and two Slack ones (tests/e2e/test_request_counts.py); here
the page fails, the row goes to the trash, the worker is killed between the page and the
write, its memory is lost, or an earlier version planned the work — and still: one page,
every link on the row, the declared entry exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import (
    Harness,
    check_env,
    message_text,
    page_markdown,
    people,
    select,
    with_template,
)
from worker.actions import Action, LinkThread
from worker.plan import page_id_from_url, plan_row, thread_ts_from_permalink
from worker.sandbox import Sandbox
from worker.sandbox.notion.pages import update_page
from worker.store import outbox_table

DECLARED = "Incident declared"


def _props(h: Harness, page: str) -> dict[str, Any]:
    props: dict[str, Any] = h.row(page)["properties"]
    return props


def _url(h: Harness, page: str, name: str) -> str | None:
    value = _props(h, page)[name]["url"]
    return str(value) if value else None


def _timelines(h: Harness, page: str) -> list[str]:
    return [t for t in h.child_pages(page) if t.endswith("— Timeline")]


def _timeline_text(h: Harness, page: str) -> str:
    timeline = page_id_from_url(_url(h, page, "Timeline"))
    assert timeline is not None, "no Timeline link on the row"
    return page_markdown(h.box, timeline)


def _all_there(h: Harness, page: str) -> None:
    """One parent message, one timeline page linked from the row and from the parent, the
    thread's link and the dates on the row, the declared entry once, nothing left to do."""
    assert len(h.top_level()) == 1
    assert len(_timelines(h, page)) == 1
    props = _props(h, page)
    thread = _url(h, page, "Slack thread")
    assert thread is not None
    assert thread_ts_from_permalink(thread) == h.thread_of(page)[0]["ts"]
    assert props["Declared at"]["date"]
    assert props["Next update due"]["date"]
    assert _timeline_text(h, page).count(DECLARED) == 1
    assert "Timeline" in message_text(h.thread_of(page)[0])
    unsent = [(a.key, a.state) for a in h.runtime.store.actions_for(page) if a.state != "done"]
    assert unsent == []


def _settle(h: Harness, minutes: float = 0) -> None:
    for _ in range(4):
        assert h.runtime.poll(datetime.now(UTC) + timedelta(minutes=minutes)) is not None


def _row_writes(h: Harness, page: str, since: int = 0) -> int:
    return sum(
        1
        for e in h.box.notion_log.entries()[since:]
        if e["method"] == "PATCH" and e["path"] == f"/v1/pages/{page}" and e["status"] == 200
    )


# --- the page cannot be made ------------------------------------------------------------------


def test_a_broken_timeline_template_keeps_the_thread_link_off_the_row_one_attempt_at_most(
    box: Sandbox, tmp_path: Path
) -> None:
    h, templates = with_template(box, tmp_path, "timeline.md.j2", "# {{ incident.nope }}\n")
    page = h.declare("Aiko", "Search down", Severity=select("SEV2"))
    h.poll()
    # The page failed: the thread's link and the dates went on the row on their own.
    assert _url(h, page, "Slack thread")
    assert _props(h, page)["Declared at"]["date"]
    assert _url(h, page, "Timeline") is None
    assert _timelines(h, page) == []
    h.poll()  # the thread says so (once)
    problems = [r for r in h.replies_text(page) if "could not create the timeline page" in r]
    assert len(problems) == 1
    (templates / "en" / "timeline.md.j2").write_text("# {{ incident.title }}\n\n## Entries\n")
    h.retry_now()
    _settle(h)
    _all_there(h, page)
    assert _row_writes(h, page) == 2  # the link on its own, then the page's link
    h.close()


def test_a_page_notion_refuses_does_not_hold_up_the_thread_link_and_is_made_later(
    h: Harness,
) -> None:
    page = h.declare("Aiko", "Search down", Severity=select("SEV2"))
    h.box.notion.force_refusals("pages.create", target=page)
    h.poll()
    assert _url(h, page, "Slack thread")
    assert _props(h, page)["Next update due"]["date"]
    assert _timelines(h, page) == []
    h.retry_now()
    _settle(h)
    _all_there(h, page)  # made without its entry after a refusal, which was appended once


# --- the row in the trash, a kill, an answer that never came -----------------------------------


def _trash_in_notion(h: Harness, page: str) -> None:
    """Aiko moves the row to the trash — straight in the emulator, since this runs while the
    emulator answers the worker (an HTTP request from here would wait for itself)."""
    state = h.box.notion.state
    with h.box.notion.lock:
        aiko = state.directory.actor_for_token(h.person("Aiko").notion_token)
        assert aiko is not None
        update_page(state, aiko, page, {"in_trash": True})


def test_a_row_trashed_between_its_page_and_its_links_gets_them_once_restored(
    h: Harness,
) -> None:
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))

    def on_answer(method: str, path: str) -> None:
        if (method, path) == ("POST", "/v1/pages"):
            h.box.tap_answers(None)
            _trash_in_notion(h, page)

    h.box.tap_answers(on_answer)
    h.poll()
    h.box.tap_answers(None)
    assert _url(h, page, "Slack thread") is None  # nothing written to a row in the trash
    client = h.client("Aiko")
    try:
        client.pages.update(page_id=page, in_trash=False)
    finally:
        client.close()
    _settle(h)
    _all_there(h, page)


def _worker_process(h: Harness) -> subprocess.Popen[bytes]:
    """`incident-worker run` on the harness's database and state, as its own process."""
    env = {
        **os.environ,
        **check_env(h, POLL_INTERVAL="1s"),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "worker", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    "moment",
    [
        "the page created, its answer not received",
        "the page created, the row being read again before the write",
    ],
)
def test_a_worker_killed_between_the_page_and_the_row_write_leaves_one_page_and_all_links(
    h: Harness, moment: str
) -> None:
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    created, killed = threading.Event(), threading.Event()
    proc = _worker_process(h)

    def on_answer(method: str, path: str) -> None:
        if killed.is_set():
            return
        if (method, path) == ("POST", "/v1/pages"):
            created.set()
        reading = created.is_set() and (method, path) == ("GET", f"/v1/pages/{page}")
        if (method == "POST" and created.is_set() and moment.endswith("received")) or reading:
            proc.send_signal(signal.SIGKILL)  # SIGKILL: no goodbye, the lease not released
            killed.set()

    h.box.tap_answers(on_answer)
    try:
        assert killed.wait(60), "the worker never created the timeline page"
    finally:
        h.box.tap_answers(None)
        proc.kill()
        proc.wait(10)
    assert _url(h, page, "Timeline") is None
    _settle(h)  # this process takes over (the killed one held the lease on this host)
    _all_there(h, page)


# --- after a lost state: the page found again --------------------------------------------------


def _lose_the_thread_link_and_the_state(h: Harness, page: str) -> None:
    h.edit("Ben", page, **{"Slack thread": {"url": None}})
    h.restart(lose_state=True)


def test_a_timeline_page_found_again_after_a_lost_state_keeps_its_one_declared_entry(
    h: Harness,
) -> None:
    page = h.declare(
        "Aiko", "Checkout errors", Severity=select("SEV2"), Commander=people(h.person("Ben"))
    )
    _settle(h)
    assert _timeline_text(h, page).count(DECLARED) == 1
    _lose_the_thread_link_and_the_state(h, page)
    _settle(h)
    _all_there(h, page)


def test_a_timeline_page_found_again_without_its_declared_entry_gets_it_once(
    h: Harness,
) -> None:
    """Made by an earlier worker that died before it added the entry (or someone deleted it)."""
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    _settle(h)
    timeline = page_id_from_url(_url(h, page, "Timeline"))
    assert timeline is not None
    client = h.client("Aiko")
    try:
        blocks = client.blocks.children.list(block_id=timeline)["results"]  # type: ignore[index]
        (entry,) = [b for b in blocks if DECLARED in json.dumps(b)]
        client.blocks.delete(block_id=entry["id"])
    finally:
        client.close()
    assert DECLARED not in page_markdown(h.box, timeline)
    _lose_the_thread_link_and_the_state(h, page)
    _settle(h)
    _all_there(h, page)


# --- an upgrade: what the previous release planned ---------------------------------------------


def _plan_as_the_previous_release(h: Harness, page: str, now: datetime) -> None:
    """What the previous release recorded for a new row: the parent, `link_thread` with the
    thread's link and the dates, a `create_timeline` of the page alone, its first entry."""
    store = h.runtime.store
    incident = h.runtime.notion.retrieve_incident(page)
    plan = plan_row(None, incident, h.runtime.settings, actor=None, now=now, first_run=False)
    create = next(a for a in plan.actions if a.kind == "create_timeline")
    link = create.payload.link  # type: ignore[union-attr]
    assert isinstance(link, LinkThread)
    store.save_plan(plan, now)
    with store.transaction() as conn:
        conn.execute(
            outbox_table.update().where(outbox_table.c.key == create.key).values(payload="{}")
        )
    store.add_actions([Action(f"link_thread:{page}", page, link)], now)


def test_work_planned_by_the_previous_release_is_carried_out_once_after_an_upgrade(
    h: Harness,
) -> None:
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    now = datetime.now(UTC)
    _plan_as_the_previous_release(h, page, now)
    mark = len(h.box.notion_log.entries())
    _settle(h)
    _all_there(h, page)
    assert _row_writes(h, page, mark) == 2  # as planned: the thread's link, then the page's
    slack = [e["path"] for e in h.box.slack_log.entries()]
    assert "/api/chat.getPermalink" not in slack


def test_a_page_the_previous_release_may_have_created_is_found_and_given_its_entry(
    h: Harness,
) -> None:
    """The previous release sent the create request and never heard back (its pages had no
    entry in them yet): the page is found, not made twice, and its entry appended once."""
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    now = datetime.now(UTC)
    _plan_as_the_previous_release(h, page, now)

    def on_answer(method: str, path: str) -> None:
        if (method, path) == ("POST", "/v1/pages"):
            h.box.tap_answers(None)
            raise ConnectionResetError("the answer never came")  # the emulator answers 500

    h.box.tap_answers(on_answer)
    h.poll()  # the page is made; the worker does not know it
    h.box.tap_answers(None)
    store = h.runtime.store
    create = store.action(f"create_timeline:{page}")
    assert create is not None
    assert create.result is not None
    assert create.result.get("uncertain") == "create"
    # As the previous release left it: no entries in the request, nor in its progress.
    (timeline,) = [
        b["id"] for b in h.runtime.notion.list_children(page) if b["type"] == "child_page"
    ]
    client = h.client("Aiko")
    try:
        blocks = client.blocks.children.list(block_id=timeline)["results"]  # type: ignore[index]
        (entry,) = [b for b in blocks if DECLARED in json.dumps(b)]
        client.blocks.delete(block_id=entry["id"])
    finally:
        client.close()
    progress = {k: v for k, v in create.result.items() if k != "entries"}
    with store.transaction() as conn:
        conn.execute(
            outbox_table.update()
            .where(outbox_table.c.id == create.id)
            .values(result=json.dumps(progress))
        )
    h.restart()  # the new release
    h.retry_now()
    _settle(h, minutes=5)
    _all_there(h, page)
