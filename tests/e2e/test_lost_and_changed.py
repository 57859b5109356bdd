"""End to end: what the worker knows goes missing or changes under it — the state store
lost mid-incident, the channel setting changed, properties renamed and back, options
renamed or removed — and who it credits when several people edit at once (issue 11,
items 3, 5, 7, 9 and 14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Harness, message_text, people, rich, select
from worker.cli import run_checks
from worker.sandbox import Sandbox
from worker.store import outbox_table

T0 = datetime.now(UTC)


@pytest.fixture(autouse=True)
def _clock_starts_with_the_test() -> None:
    """Minutes count from the test's start: the sandbox stamps rows with the real time."""
    global T0  # noqa: PLW0603 - one clock for the helpers of this module
    T0 = datetime.now(UTC)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _declare(h: Harness, **props: dict[str, Any]) -> str:
    ben = h.person("Ben")
    values: dict[str, Any] = {"Severity": select("SEV2"), "Commander": people(ben), **props}
    page = h.declare("Aiko", "Checkout errors", **values)
    h.runtime.poll(_at(0))
    h.runtime.poll(_at(0.1))
    return page


def _reminders(h: Harness, page: str) -> list[str]:
    marks = ("overdue", "No status update")
    return [text for text in h.replies_text(page) if any(m in text for m in marks)]


def _schema(h: Harness, properties: dict[str, Any]) -> None:
    """Change the data source as a person would in Notion."""
    client = h.client("Aiko")
    try:
        client.data_sources.update(data_source_id=h.data_source_id, properties=properties)
    finally:
        client.close()


# --- item 9: the state store lost mid-incident ------------------------------------------------


def test_after_losing_the_state_reminders_count_from_the_last_real_update(h: Harness) -> None:
    page = _declare(h)
    h.edit("Ben", page, **{"Status update": rich("Rolled back; watching the error rate")})
    h.runtime.poll(_at(20))  # the update is seen at minute 20
    h.restart(lose_state=True)
    h.runtime.poll(_at(21))
    h.runtime.nag(_at(35))
    assert _reminders(h, page) == []  # SEV2: due at minute 50, not 30 after the declaration
    h.runtime.nag(_at(51))
    assert len(_reminders(h, page)) == 1


def test_after_losing_the_state_the_reminders_already_sent_are_remembered(h: Harness) -> None:
    page = _declare(h)
    h.runtime.nag(_at(31))
    h.runtime.nag(_at(61))
    assert len(_reminders(h, page)) == 2
    h.restart(lose_state=True)
    h.runtime.poll(_at(62))
    h.runtime.nag(_at(63))
    assert len(_reminders(h, page)) == 2  # this period's reminder went out already
    h.runtime.nag(_at(91))
    reminders = _reminders(h, page)
    assert len(reminders) == 3
    assert "No status update" in reminders[2]  # the third is the escalation, as planned


def test_after_losing_the_state_the_next_replies_never_reuse_earlier_keys(h: Harness) -> None:
    """Keys of messages posted before the loss are found by reconciliation: a new reply
    with the same key would be taken as already posted, and lost."""
    page = _declare(h)
    h.edit("Ben", page, Status=select("Identified"))
    h.poll()
    h.restart(lose_state=True)
    h.poll()
    h.edit("Ben", page, Status=select("Monitoring"))
    h.poll()
    keys = [
        (m.get("metadata") or {}).get("event_payload", {}).get("key") for m in h.thread_of(page)
    ]
    assert len(keys) == len(set(keys))
    assert any("→ Monitoring" in text for text in h.replies_text(page))


def test_after_losing_the_state_resolved_parents_are_not_rewritten(h: Harness) -> None:
    pages = [_declare(h) for _ in range(3)]
    for page in pages:
        h.edit("Ben", page, Status=select("Resolved"))
    h.poll()
    h.poll()
    h.restart(lose_state=True)
    updates_before = _count(h, "/api/chat.update")
    h.poll()
    h.poll()
    assert _count(h, "/api/chat.update") == updates_before


def _count(h: Harness, path: str) -> int:
    return sum(1 for e in h.box.slack_log.entries() if e["path"] == path)


# --- item 3: SLACK_CHANNEL_ID changed with incidents open -------------------------------------


def test_an_open_incident_stays_in_its_channel_when_the_setting_changes(
    box: Sandbox, tmp_path: Path
) -> None:
    h = Harness(box, tmp_path)
    page = _declare(h)
    old = h.channel
    new = box.slack.create_channel("incidents-new", is_private=False, bot_is_member=True)
    h.env["SLACK_CHANNEL_ID"] = new
    h.restart()
    h.edit("Ben", page, Status=select("Identified"))
    h.poll()
    replies = h.replies_text(page)  # the thread in the old channel
    assert any("→ Identified" in text for text in replies)
    assert "Identified" in message_text(h.thread_of(page)[0])  # the parent is kept current
    assert box.slack.orphan_replies() == []
    second = h.declare("Aiko", "Search is slow", Severity=select("SEV3"))
    h.poll()
    assert len(box.slack.channel_messages(new)) == 1  # new incidents go to the new channel
    assert len(box.slack.channel_messages(old)) == 1
    assert h.runtime.store.get_record(second) is not None
    results = run_checks(h.settings())
    lines = [r.line() for r in results if "open incident" in r.detail]
    assert len(lines) == 1, [r.line() for r in results]
    assert old in lines[0]
    assert "1 open incident" in lines[0]
    h.close()


# --- item 5: a property unreadable for a while ------------------------------------------------


def test_a_resolution_made_while_status_was_unreadable_is_announced_once_it_is_readable(
    h: Harness,
) -> None:
    page = _declare(h, Status=select("Investigating"))
    _schema(h, {"Status": {"name": "State"}})  # renamed in Notion …
    h.edit("Ben", page, State=select("Resolved"))
    h.poll()
    assert not any("Resolved" in text for text in h.replies_text(page))
    _schema(h, {"State": {"name": "Status"}})  # … and renamed back
    h.edit("Ben", page, Impact=rich("EU checkouts"))
    h.poll()
    h.poll()
    replies = h.replies_text(page)
    assert any("Investigating → Resolved" in text for text in replies)
    assert any("postmortem draft is ready" in text for text in replies)
    broadcasts = [m for m in h.thread_of(page)[1:] if m.get("subtype") == "thread_broadcast"]
    assert any("Resolved" in message_text(m) for m in broadcasts)


# --- item 14: option values the settings do not know ------------------------------------------


def test_an_unknown_status_is_named_and_not_taken_as_a_change(h: Harness) -> None:
    page = _declare(h, Status=select("Investigating"))
    h.edit("Ben", page, Status=select("Closed"))
    h.poll()
    h.poll()
    replies = h.replies_text(page)
    assert not any("Investigating → Closed" in text for text in replies)
    (note,) = [text for text in replies if "Closed" in text]
    assert "STATUS_OPTIONS" in note
    assert "RESOLVED_STATUSES" in note


def test_a_severity_renamed_in_notion_keeps_the_reminders_going(h: Harness) -> None:
    page = _declare(h)
    client = h.client("Aiko")
    try:
        source: Any = client.data_sources.retrieve(data_source_id=h.data_source_id)
    finally:
        client.close()
    options = [
        {"id": o["id"], "name": "P2" if o["name"] == "SEV2" else o["name"]}
        for o in source["properties"]["Severity"]["select"]["options"]
    ]
    _schema(h, {"Severity": {"select": {"options": options}}})  # SEV2 renamed to P2 …
    h.box.notion.set_clock(lambda: datetime.now(UTC) + timedelta(minutes=1))
    h.edit("Ben", page, Impact=rich("EU checkouts"))  # … seen when the row is next edited
    h.runtime.poll(_at(5))
    replies = h.replies_text(page)
    assert any("“P2”" in text and "SEVERITY_OPTIONS" in text for text in replies)
    assert not any("SEV2 → P2" in text for text in replies)
    h.runtime.nag(_at(31))
    assert len(_reminders(h, page)) == 1  # still reminded at SEV2's cadence


def test_a_removed_status_option_is_not_shown_as_cleared(h: Harness) -> None:
    page = _declare(h, Status=select("Monitoring"))
    options = [{"name": n} for n in ("Investigating", "Identified", "Resolved")]
    _schema(h, {"Status": {"select": {"options": options}}})  # "Monitoring" deleted
    h.edit("Ben", page, Impact=rich("EU checkouts"))
    h.poll()
    replies = h.replies_text(page)
    assert not any("Monitoring → —" in text for text in replies)
    assert any("Impact" in text for text in replies)  # the real change is still announced
    assert any("“Monitoring” was removed" in text for text in replies)


# --- item 7: several people in one poll -------------------------------------------------------


def test_two_peoples_changes_in_one_poll_are_not_credited_to_the_last_editor(
    h: Harness,
) -> None:
    page = _declare(h)
    aiko, ben = h.person("Aiko"), h.person("Ben")
    h.edit("Aiko", page, Status=select("Identified"))
    h.edit("Ben", page, Severity=select("SEV1"))  # seconds later, within the same poll
    h.poll()
    (reply,) = [m for m in h.thread_of(page)[1:] if "Identified" in message_text(m)]
    text = message_text(reply)
    assert reply.get("subtype") == "thread_broadcast"  # the escalation goes to the channel …
    assert "Changed by" not in text
    assert f"<@{ben.slack_id}>" not in text  # … crediting nobody with Aiko's change
    assert f"<@{aiko.slack_id}>" not in text


def test_a_reply_in_the_thread_says_who_edited_the_row_last(h: Harness) -> None:
    page = _declare(h)
    h.edit("Aiko", page, Status=select("Identified"))
    h.poll()
    (text,) = h.replies_text(page)
    assert f"Row last edited by <@{h.person('Aiko').slack_id}>" in text


# --- found in review: the messy paths around the above ----------------------------------------


def _rename(h: Harness, old: str, new: str) -> None:
    _schema(h, {old: {"name": new}})


def test_renaming_the_slack_thread_property_neither_repairs_nor_holds_up_the_thread(
    h: Harness,
) -> None:
    page = _declare(h)
    _rename(h, "Slack thread", "Thread link")
    h.edit("Ben", page, Status=select("Identified"))
    h.poll()
    h.edit("Ben", page, **{"Status update": rich("Found the bad deploy")})
    h.poll()
    replies = h.replies_text(page)
    assert any("→ Identified" in text for text in replies)
    assert any("Found the bad deploy" in text for text in replies)  # nothing stalled
    _rename(h, "Thread link", "Slack thread")
    h.edit("Ben", page, Status=select("Monitoring"))
    h.poll()
    h.poll()
    assert not any("set it back" in text for text in h.replies_text(page))


def test_after_losing_the_state_a_second_resolution_makes_no_second_postmortem(
    h: Harness,
) -> None:
    page = _declare(h)
    h.edit("Ben", page, Status=select("Resolved"))
    h.poll()
    h.poll()
    h.restart(lose_state=True)
    h.poll()
    h.edit("Ben", page, Status=select("Investigating"))
    h.poll()
    h.edit("Ben", page, Status=select("Resolved"))
    h.poll()
    h.poll()
    assert h.child_pages(page).count("Checkout errors — Postmortem") == 1
    ready = [t for t in h.replies_text(page) if "postmortem draft is ready" in t]
    assert len(ready) == 1


def test_after_losing_the_state_reminders_count_from_the_announcement_not_an_earlier_declared_at(
    h: Harness,
) -> None:
    """Logged late, with Declared at an hour back: the first update was due 30 minutes after
    the worker announced it; a lost state must not make it overdue at once."""
    earlier = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    page = _declare(h, **{"Declared at": {"date": {"start": earlier}}})
    h.restart(lose_state=True)
    h.runtime.poll(_at(1))
    h.runtime.nag(_at(5))
    assert _reminders(h, page) == []
    h.runtime.nag(_at(31))
    assert len(_reminders(h, page)) == 1


def test_a_pasted_link_to_someone_elses_thread_gets_the_incident_its_own(h: Harness) -> None:
    from slack_sdk import WebClient

    aiko = h.person("Aiko")
    client = WebClient(token=aiko.slack_token, base_url=h.box.slack_base_url)
    ts = client.chat_postMessage(channel=h.channel, text="checkout looks broken?")["ts"]
    link = client.chat_getPermalink(channel=h.channel, message_ts=ts)["permalink"]
    h.poll()  # not the first run
    page = h.declare(
        "Aiko", "Checkout errors", Severity=select("SEV2"), **{"Slack thread": {"url": link}}
    )
    h.poll()
    h.poll()
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.thread_ts not in (None, ts)
    assert h.row(page)["properties"]["Slack thread"]["url"] != link


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("post_carrier_pigeon", '{"coo": true}'),  # a kind it does not know
        ("post_reply", '{"type": "carrier_pigeon", "coo": true}'),  # a reply it does not know
    ],
)
def test_an_action_queued_by_a_newer_version_does_not_hold_up_the_thread(
    h: Harness, kind: str, payload: str
) -> None:
    """Replicas upgraded one at a time (or a rollback): an older one meets an action it
    cannot read. It fails alone, at once; the incident's messages go on."""
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    with h.runtime.store.transaction() as conn:
        conn.execute(
            outbox_table.insert().values(
                key=f"{kind}:newer:{page}",
                page_id=page,
                kind=kind,
                payload=payload,
                state="pending",
                attempts=0,
                not_before=0.0,
                created_at=0.0,
                background=False,
            )
        )
    h.poll()
    (queued,) = [a for a in h.runtime.store.actions_for(page) if a.key == f"{kind}:newer:{page}"]
    assert queued.state == "failed"
    assert queued.attempts <= 1
    assert (queued.error or "").startswith("unreadable: ")
    assert h.thread_of(page)  # announced all the same
    assert h.row(page)["properties"]["Slack thread"]["url"]


def test_a_reminder_queued_before_the_update_arrived_is_not_sent(h: Harness) -> None:
    page = _declare(h)
    h.runtime.nag(_at(31), deliver=False)  # queued: the poll job sends it, between polls
    h.edit("Ben", page, **{"Status update": rich("Rolled back")})
    h.runtime.poll(_at(31.1))
    assert _reminders(h, page) == []
    assert any("Rolled back" in text for text in h.replies_text(page))
