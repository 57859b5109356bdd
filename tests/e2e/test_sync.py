"""End to end: Notion rows become one Slack thread each, through the real clients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Harness, message_text, page_markdown, people, rich, select
from worker.sandbox import Sandbox, SandboxOptions
from worker.sandbox.notion.limits import NotionLimits
from worker.sandbox.ratelimit import RateLimit


def test_a_whole_incident_is_one_thread(h: Harness) -> None:
    page = h.declare(
        "Aiko",
        "Checkout API returning 500s",
        Severity=select("SEV2"),
        Status=select("Investigating"),
        Impact=rich("30% of checkouts fail"),
    )
    h.poll()
    parents = h.top_level()
    assert len(parents) == 1
    assert "Checkout API returning 500s" in repr(parents[0]["blocks"])

    row = h.row(page)["properties"]
    assert row["Slack thread"]["url"].startswith("https://")
    assert row["Declared at"]["date"]["start"]

    ben = h.person("Ben")
    h.edit("Ben", page, Commander=people(ben), Status=select("Identified"))
    h.poll()
    h.edit("Ben", page, **{"Status update": rich("Rolled back deploy 4812")})
    h.poll()
    h.edit("Chidi", page, Severity=select("SEV1"))
    h.poll()
    h.edit("Ben", page, Status=select("Resolved"))
    h.poll()
    h.poll()  # sees the worker's own write-back of Resolved at: nothing more is posted

    replies = h.replies_text(page)
    assert len(replies) == 5
    assert "postmortem draft is ready" in replies[4]
    assert "Status:* Investigating → Identified" in replies[0]
    assert f"Row last edited by <@{ben.slack_id}>" in replies[0]
    assert "Rolled back deploy 4812" in replies[1]
    assert "Escalated to SEV1" in replies[2]
    # Sent to the whole channel: it credits nobody (Notion names only the last editor).
    assert h.person("Chidi").slack_id not in replies[2]
    assert "Resolved" in replies[3]
    thread = h.thread_of(page)
    broadcasts = [m for m in thread[1:] if m.get("subtype") == "thread_broadcast"]
    assert len(broadcasts) == 2  # the escalation and the resolution
    assert len(h.top_level()) == 3  # the parent plus the two broadcasts
    parent = thread[0]
    assert "Resolved" in repr(parent["blocks"])
    assert "SEV1" in repr(parent["blocks"])
    row = h.row(page)["properties"]
    assert row["Resolved at"]["date"]["start"]
    assert row["Mitigated at"]["date"]["start"]


def test_an_idle_poll_costs_one_notion_request_and_nothing_in_slack(h: Harness) -> None:
    h.declare("Aiko", "DB latency", Severity=select("SEV3"))
    h.poll()
    h.poll()
    slack_before = h.runtime.slack.requests
    report = h.poll()
    assert report.notion_requests == 1
    assert h.runtime.slack.requests == slack_before


def test_a_restart_in_the_middle_continues_the_same_thread(h: Harness) -> None:
    page = h.declare("Aiko", "Search is slow", Severity=select("SEV3"))
    h.poll()
    h.restart()
    h.edit("Ben", page, Status=select("Identified"))
    h.poll()
    assert len(h.top_level()) == 1
    assert len(h.replies_text(page)) == 1


def test_losing_the_state_file_announces_nothing_twice(h: Harness) -> None:
    page = h.declare("Aiko", "Login failures", Severity=select("SEV2"))
    h.poll()
    h.poll()  # the worker's write-back of the thread link
    h.restart(lose_state=True)
    h.poll()
    assert len(h.top_level()) == 1
    h.edit("Ben", page, Status=select("Identified"))
    h.poll()
    assert len(h.top_level()) == 1
    replies = h.replies_text(page)
    assert len(replies) == 1
    assert "Identified" in replies[0]


def test_the_first_run_adopts_resolved_rows_silently(box: Sandbox, tmp_path: Path) -> None:
    h = Harness(box, tmp_path)
    h.runtime.close()
    h.restart(lose_state=True)  # a worker that has never polled this database
    old = [h.declare("Aiko", f"Old incident {i}", Status=select("Resolved")) for i in range(3)]
    live = h.declare("Aiko", "Still burning", Status=select("Investigating"))
    h.poll()
    top = h.top_level()
    assert len(top) == 1
    assert "Still burning" in repr(top[0]["blocks"])
    h.edit("Ben", old[0], Impact=rich("retro note"))
    h.poll()
    assert len(h.top_level()) == 1
    assert h.runtime.store.get_record(live) is not None
    h.close()


@pytest.mark.parametrize(
    "field", ["Name", "Impact", "Status update", "Customer comms", "Severity", "Status"]
)
def test_mention_injection_in_any_mirrored_field_pings_nobody(h: Harness, field: str) -> None:
    evil = "<!channel> <!here> <!everyone> <@U0000000000> &lt;!channel&gt; @here"
    page = h.declare("Aiko", "Injection test", Severity=select("SEV2"))
    h.poll()
    if field == "Name":
        h.edit("Aiko", page, Name={"title": [{"text": {"content": evil}}]})
    elif field in ("Impact", "Status update"):
        h.edit("Aiko", page, **{field: rich(evil)})
    else:
        h.edit("Aiko", page, **{field: select(evil.replace(",", " "))})
    h.poll()
    # Only the people the worker itself names (who made the change) may be pinged.
    people = {f"@{p.slack_id}" for p in h.box.workspace.people}
    for message in h.thread_of(page):
        # The parent is edited: mentions its edits added count as much as the post's.
        ts = message["ts"]
        pings = h.box.slack.pings(h.channel, ts) | h.box.slack.edit_pings(h.channel, ts)
        assert pings <= people, (field, pings, message)
        assert "@U0000000000" not in pings


def test_a_new_commander_is_notified_by_a_reply_not_by_the_edit_of_the_parent(h: Harness) -> None:
    """Slack notifies mentions when a message is posted; whether an edit that adds one
    notifies is not documented (the sandbox records those apart). The parent names the new
    commander through an edit, so the reply saying so must be what pings them."""
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    h.poll()
    h.edit("Aiko", page, Commander=people(h.person("Ben")))
    h.poll()

    ben = "@" + h.person("Ben").slack_id
    parent, *replies = h.thread_of(page)
    assert ben in h.box.slack.edit_pings(h.channel, parent["ts"])
    assert ben not in h.box.slack.pings(h.channel, parent["ts"])
    assert [r for r in replies if ben in h.box.slack.pings(h.channel, r["ts"])], replies


def test_japanese_and_emoji_text_come_through(h: Harness) -> None:
    page = h.declare(
        "Aiko",
        "決済 API が 500 エラー 💳",
        Severity=select("SEV2"),
        Impact=rich("eu-west の決済の約 30% が失敗 🔥"),
    )
    h.poll()
    h.edit("Ben", page, **{"Status update": rich("ロールバック完了。次回報告は 15 分後 ⏱️")})
    h.poll()
    parent = h.thread_of(page)[0]
    assert "決済 API が 500 エラー 💳" in repr(parent["blocks"])
    assert "ロールバック完了。次回報告は 15 分後 ⏱️" in h.replies_text(page)[0]


def _parent_edits(h: Harness) -> int:
    return sum(1 for e in h.box.slack_log.entries() if e["path"] == "/api/chat.update")


def test_the_parent_is_right_from_its_first_post_and_edited_once_per_change(
    h: Harness,
) -> None:
    """The times the worker writes on the row are shown as it posts, and reading its own
    writes back costs no edit of the parent (each is one more call against Slack's limit)."""
    page = h.declare("Aiko", "Search is slow", Severity=select("SEV2"))
    as_posted: list[str] = []

    def on_answer(method: str, path: str) -> None:
        if path == "/api/chat.postMessage" and not as_posted:
            as_posted.append(message_text(h.top_level()[0]))

    h.box.tap_answers(on_answer)
    h.poll()
    h.box.tap_answers(None)
    assert "Next update due" in as_posted[0]
    assert "*Declared*\n—" not in as_posted[0]
    for _ in range(3):
        h.poll()
    assert _parent_edits(h) == 1
    assert "Timeline" in message_text(h.thread_of(page)[0])
    h.edit("Ben", page, Status=select("Identified"), **{"Status update": rich("Found it")})
    for _ in range(3):
        h.poll()
    assert _parent_edits(h) == 2  # one edit for one change, though the due time was rewritten
    assert "Found it" in message_text(h.thread_of(page)[0])


def test_a_declared_time_people_set_meanwhile_is_kept(h: Harness) -> None:
    """Someone fills in *Declared at* while the announcement is on its way: the worker,
    which fills it only where it is empty, leaves their time alone."""
    page = h.declare("Aiko", "Queue backlog", Severity=select("SEV3"))
    theirs = "2026-01-05T09:30:00.000+00:00"

    def on_answer(method: str, path: str) -> None:
        if path == "/api/chat.postMessage":
            h.box.tap_answers(None)
            h.edit("Aiko", page, **{"Declared at": {"date": {"start": theirs}}})

    h.box.tap_answers(on_answer)
    h.poll()
    h.poll()
    row = h.row(page)["properties"]
    assert row["Slack thread"]["url"]
    assert row["Declared at"]["date"]["start"] == theirs


def test_the_workers_own_edits_are_never_reported(h: Harness) -> None:
    page = h.declare("Aiko", "Cache stampede", Severity=select("SEV3"))
    for _ in range(4):
        h.poll()
    assert h.replies_text(page) == []


def test_after_a_bulk_import_idle_polls_read_nothing(h: Harness) -> None:
    """A cursor at the newest edit would re-read every row of that minute at each poll."""
    from datetime import UTC, datetime, timedelta

    past = datetime.now(UTC) - timedelta(minutes=10)
    h.box.notion.set_clock(lambda: past)
    rows = [
        {
            "Name": {"title": [{"text": {"content": f"Old incident {i}"}}]},
            "Status": select("Resolved"),
        }
        for i in range(300)
    ]
    h.box.notion.insert_pages(h.data_source_id, rows, as_user="Aiko")
    h.box.notion.set_clock(lambda: datetime.now(UTC))
    h.restart(lose_state=True)  # a first run over a database with history
    first = h.poll()
    assert first.rows == 300
    idle = h.poll()
    assert idle.rows == 0
    assert idle.notion_requests == 1
    assert h.top_level() == []


def test_startup_rides_out_a_passing_outage(tmp_path: Path) -> None:
    """Every request failing at boot (5xx, 429, dropped connections) makes the worker try
    again, not exit; once the services answer, it starts."""
    import threading

    options = SandboxOptions(
        notion_limits=NotionLimits.off(),
        slack_post_rate=RateLimit(0, 0),
        slack_tier_limits=False,
        slow_fault_s=0.5,
    )
    with Sandbox(options) as box:
        h = Harness(box, tmp_path, NOTION_TIMEOUT="1s", SLACK_TIMEOUT="1s")
        h.runtime.close()
        box.set_fault_rate(1.0)
        threading.Timer(1.5, box.set_fault_rate, args=(0.0,)).start()
        h.runtime = h.start_worker()
        assert h.runtime.identity.notion_user_id  # started: it knows who it is
        h.close()


def _schema(h: Harness, properties: dict[str, Any]) -> None:
    """Change the data source as a person would in Notion."""
    client = h.client("Aiko")
    try:
        client.data_sources.update(data_source_id=h.data_source_id, properties=properties)
    finally:
        client.close()


def test_right_to_left_japanese_and_emoji_text_come_through(h: Harness) -> None:
    arabic = "فشل الدفع في أوروبا 💳"
    hebrew = "כשל בתשלומים באירופה 🔥 \u202bמוטמע\u202c"  # noqa: RUF001
    japanese = "ロールバック完了 🙇‍♀️ 👩🏽‍💻 🇯🇵"
    page = h.declare("Aiko", arabic, Severity=select("SEV2"), Impact=rich(hebrew))
    h.poll()
    h.edit("Ben", page, **{"Status update": rich(japanese)})
    h.poll()
    parent, update = h.thread_of(page)
    assert parent["blocks"][0]["text"]["text"] == f"SEV2 · {arabic}"
    assert hebrew in message_text(parent)
    assert japanese in message_text(update)
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.timeline_page_id
    assert japanese in page_markdown(h.box, record.timeline_page_id)
    assert h.child_pages(page) == [f"{arabic} — Timeline"]


EVIL = "<!channel> <!here> <!everyone> <@U0000000000> <!subteam^S0000|@oncall> @here &lt;!here&gt;"


def test_injection_in_custom_mirrored_properties_pings_nobody(box: Sandbox, tmp_path: Path) -> None:
    h = Harness(
        box,
        tmp_path,
        MIRRORED_PROPERTIES="Name,Status,Severity,Commander,Impact,Customer comms,"
        "Root cause,Runbook,Services",
    )
    _schema(
        h,
        {"Root cause": {"rich_text": {}}, "Runbook": {"url": {}}, "Services": {"multi_select": {}}},
    )
    ben = h.person("Ben")
    page = h.declare(
        "Aiko",
        EVIL,
        Severity=select(EVIL.replace(",", " ")),
        Impact=rich(EVIL),
        **{"Root cause": rich(EVIL), "Runbook": {"url": EVIL}},
    )
    h.poll()
    h.edit(
        "Ben",
        page,
        Commander=people(ben),
        Services={"multi_select": [{"name": p} for p in EVIL.split()]},
        **{"Root cause": rich(EVIL + " again"), "Status update": rich(EVIL)},
    )
    h.poll()
    thread = h.thread_of(page)
    # The parent, the changes, the status update, and a note naming the Severity that is
    # not among SEVERITY_OPTIONS (quoting it, inert).
    assert len(thread) == 4
    everyone = {f"@{p.slack_id}" for p in box.workspace.people}
    for message in thread:
        ts = message["ts"]
        pings = box.slack.pings(h.channel, ts) | box.slack.edit_pings(h.channel, ts)
        assert pings <= everyone, message_text(message)
    # What was typed reads as typed: "&lt;" stays the four characters someone wrote.
    assert "&amp;lt;!here&amp;gt;" in message_text(thread[0])
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.timeline_page_id
    mentioned = {
        item["mention"]["user"]["id"]
        for block in h.runtime.notion.read_tree(record.timeline_page_id)
        for item in block.get(block["type"], {}).get("rich_text", [])
        if item.get("type") == "mention" and "user" in item["mention"]
    }
    assert mentioned <= {ben.notion_id}  # only the person who made the change
    h.close()
