"""End to end: the timeline and postmortem pages, created once each, from the templates."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import notion_client
import pytest

from tests.e2e.harness import (
    Harness,
    check,
    check_env,
    page_markdown,
    people,
    rich,
    select,
    with_template,
)
from worker.config import BUNDLED_TEMPLATES
from worker.plan import page_id_from_url
from worker.sandbox import Sandbox


def _play(h: Harness) -> str:
    ben, chidi = h.person("Ben"), h.person("Chidi")
    page = h.declare(
        "Aiko",
        "Checkout API returning 500s",
        Severity=select("SEV2"),
        Status=select("Investigating"),
        Impact=rich("30% of checkouts fail in eu-west"),
    )
    h.poll()
    h.edit("Ben", page, Commander=people(ben), Scribe=people(chidi), Status=select("Identified"))
    h.poll()
    h.edit("Ben", page, **{"Status update": rich("Rolled back deploy 4812")})
    h.poll()
    h.edit("Chidi", page, Severity=select("SEV1"))
    h.poll()
    h.edit("Ben", page, Status=select("Resolved"))
    h.poll()
    h.poll()
    return page


def test_a_full_incident_leaves_a_timeline_and_a_postmortem(h: Harness) -> None:
    page = _play(h)
    row = h.row(page)["properties"]
    timeline_id = page_id_from_url(row["Timeline"]["url"])
    postmortem_id = page_id_from_url(row["Postmortem"]["url"])
    assert timeline_id
    assert postmortem_id
    assert h.child_pages(page) == [
        "Checkout API returning 500s — Timeline",
        "Checkout API returning 500s — Postmortem",
    ]
    timeline = page_markdown(h.box, timeline_id)
    assert "## Entries" in timeline
    for text in (
        "Incident declared",
        "Status: Investigating → Identified",
        "Rolled back deploy 4812",
        "Severity: SEV2 → SEV1",
        "Status: Identified → Resolved",
    ):
        assert text in timeline, text
    postmortem = page_markdown(h.box, postmortem_id)
    assert "30% of checkouts fail in eu-west" in postmortem
    assert "Rolled back deploy 4812" in postmortem
    assert "Severity: SEV2 → SEV1" in postmortem  # the timeline, read back
    assert "- [ ]" in postmortem  # action items as to-dos
    assert "Time to resolve" in postmortem
    assert "| Resolved | — |" not in postmortem  # the resolution time is known at once
    # The parent message links both pages.
    assert "Timeline" in repr(h.thread_of(page)[0]["blocks"])
    assert "Postmortem" in repr(h.thread_of(page)[0]["blocks"])


def test_hand_edits_to_the_timeline_are_kept_in_the_postmortem(h: Harness) -> None:
    page = h.declare("Aiko", "Queue backlog", Severity=select("SEV3"))
    h.poll()
    timeline_id = h.runtime.store.get_record(page).timeline_page_id  # type: ignore[union-attr]
    assert timeline_id
    client = h.client("Chidi")
    client.blocks.children.append(
        block_id=timeline_id,
        children=[
            {"paragraph": {"rich_text": [{"text": {"content": "Paged the DB on-call by phone"}}]}}
        ],
    )
    client.close()
    h.edit("Ben", page, Status=select("Resolved"))
    h.poll()
    h.poll()
    postmortem_id = h.runtime.store.get_record(page).postmortem_page_id  # type: ignore[union-attr]
    assert postmortem_id
    assert "Paged the DB on-call by phone" in page_markdown(h.box, postmortem_id)


def test_reopening_and_resolving_again_makes_no_second_postmortem(h: Harness) -> None:
    page = h.declare("Aiko", "Flaky login", Severity=select("SEV3"))
    h.poll()
    for status in ("Resolved", "Investigating", "Resolved"):
        h.edit("Ben", page, Status=select(status))
        h.poll()
        h.poll()
    assert h.child_pages(page) == ["Flaky login — Timeline", "Flaky login — Postmortem"]


def test_a_page_created_before_a_crash_is_not_created_again(h: Harness) -> None:
    page = h.declare("Aiko", "Disk full", Severity=select("SEV3"))
    h.poll()
    store = h.runtime.store
    (item,) = [a for a in store.actions_for(page) if a.kind == "create_timeline"]
    assert item.state == "done"
    # As if the worker died right after Notion created the page, before it noted anything.
    with store.transaction() as conn:
        from worker.store import outbox_table

        conn.execute(
            outbox_table.update()
            .where(outbox_table.c.id == item.id)
            .values(
                state="sending", result='{"title": "Disk full — Timeline", "uncertain": "create"}'
            )
        )
    h.restart()
    h.poll()
    assert h.child_pages(page) == ["Disk full — Timeline"]
    assert store.action(item.key) is not None
    assert h.runtime.store.action(item.key).state == "done"  # type: ignore[union-attr]


def test_a_broken_template_is_reported_once_and_slack_carries_on(
    box: Sandbox, tmp_path: Path
) -> None:
    h, templates = with_template(
        box, tmp_path, "timeline.md.j2", "# {{ incident.no_such_thing }}\n"
    )
    page = h.declare("Aiko", "Search down", Severity=select("SEV2"))
    h.poll()
    h.edit("Ben", page, Status=select("Identified"))
    h.poll()
    h.poll()
    replies = h.replies_text(page)
    problems = [r for r in replies if "could not create the timeline page" in r]
    assert len(problems) == 1
    assert "timeline.md.j2" in problems[0]
    assert "line 1" in problems[0]
    assert any("→ Identified" in r for r in replies)  # the thread carries on
    assert h.child_pages(page) == []  # never a half-created page
    # Fixing the template is enough: the next attempt creates the page.
    shutil.copy(BUNDLED_TEMPLATES / "en" / "timeline.md.j2", templates / "en" / "timeline.md.j2")
    h.retry_now()
    h.poll()
    assert h.child_pages(page) == ["Search down — Timeline"]
    h.close()


def test_postmortems_go_to_the_postmortems_database(box: Sandbox, tmp_path: Path) -> None:
    h = Harness(box, tmp_path, with_postmortems=True)
    ben = h.person("Ben")
    page = h.declare("Aiko", "Payments delayed", Severity=select("SEV2"), Commander=people(ben))
    h.poll()
    h.edit("Ben", page, Status=select("Resolved"))
    h.poll()
    h.poll()
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.postmortem_page_id
    row = h.row(record.postmortem_page_id)["properties"]
    assert row["Incident"]["relation"] == [{"id": page}]
    assert [p["id"] for p in row["Owner"]["people"]] == [ben.notion_id]
    assert row["Status"]["select"]["name"] == "Draft"
    assert row["Due"]["date"]["start"]
    replies = h.replies_text(page)
    assert "please complete it by" in replies[-1]
    h.close()


def test_a_resolution_within_the_minute_reads_resolved_after_less_than_a_minute(h: Harness) -> None:
    """Notion rounds its times down to the minute: an update 20 s in and a resolution 40 s in
    are no "0 s", and a short incident still says when it was resolved."""
    declared = datetime.now(UTC).replace(second=5, microsecond=0)
    clock = {"now": declared}
    h.box.notion.set_clock(lambda: clock["now"])
    ben = h.person("Ben")
    page = h.declare("Aiko", "Blip", Severity=select("SEV2"), Commander=people(ben))
    h.runtime.poll(declared + timedelta(seconds=1))
    clock["now"] = declared + timedelta(seconds=20)
    h.edit("Ben", page, **{"Status update": rich("False alarm, looking")})
    h.runtime.poll(declared + timedelta(seconds=21))
    clock["now"] = declared + timedelta(seconds=40)
    h.edit("Ben", page, Status=select("Resolved"))
    h.runtime.poll(declared + timedelta(seconds=41))
    h.runtime.poll(declared + timedelta(seconds=42))
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.postmortem_page_id
    postmortem = page_markdown(h.box, record.postmortem_page_id)
    assert "resolved after less than a minute" in postmortem
    assert "| Time to resolve | less than a minute |" in postmortem
    assert "the first less than a minute after the declaration" in postmortem
    assert re.search(r"\b0 s\b", postmortem) is None


def test_an_edit_by_another_integration_is_in_the_timeline_without_a_mention(
    h: Harness,
) -> None:
    """Notion refuses a user mention of a bot, or of a user it does not show the integration
    (tests/sandbox/test_notion_users.py): an automation's edit names it in plain text, so
    the entry is written and nothing is reported as broken."""
    page = h.declare("Aiko", "Search down", Severity=select("SEV2"))
    h.poll()
    automation = notion_client.Client(
        auth=h.box.workspace.notion_automation_token, base_url=h.box.notion_base_url
    )
    try:
        automation.pages.update(page, properties={"Severity": select("SEV1")})
    finally:
        automation.close()
    h.poll()
    h.poll()
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.timeline_page_id
    timeline = page_markdown(h.box, record.timeline_page_id)
    assert "Severity: SEV2 → SEV1" in timeline
    assert "notion-user" not in timeline
    failed = [r for r in h.replies_text(page) if "could not" in r.lower()]
    assert failed == []
    unsent = [a.key for a in h.runtime.store.actions_for(page) if a.state != "done"]
    assert unsent == []


# --- templates: syntax errors, runaway loops, huge output -----------------------------------

BROKEN_TEMPLATES = {
    "syntax error": ("timeline.md.j2", "# {{ incident.title }}\n{% for x in %}\n", "line 2"),
    "runaway loop": (
        "timeline.md.j2",
        "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}\n",
        "too costly",
    ),
    "huge output": (
        "timeline.md.j2",
        "{% for i in range(5000) %}{{ 'word ' * 99999 }}\n{% endfor %}",
        "too costly",
    ),
}


@pytest.mark.parametrize("case", BROKEN_TEMPLATES)
def test_a_template_that_fails_to_load_or_runs_away_is_reported_once_and_slack_carries_on(
    box: Sandbox, tmp_path: Path, case: str
) -> None:
    name, source, detail = BROKEN_TEMPLATES[case]
    h, _templates = with_template(box, tmp_path, name, source)
    page = h.declare("Aiko", "Search down", Severity=select("SEV2"))
    h.poll()
    h.edit("Ben", page, Status=select("Identified"))
    h.poll()
    h.retry_now()  # the failing page action is tried again: still one report
    h.poll()
    replies = h.replies_text(page)
    problems = [r for r in replies if f"en/{name}" in r]
    assert len(problems) == 1, replies
    assert detail in problems[0]
    assert any("*Status:* — → Identified" in r for r in replies)  # the thread carries on
    assert h.child_pages(page) == []  # never a half-written page
    results = check(check_env(h))
    assert any(f"en/{name}" in r.detail and not r.ok for r in results)
    h.close()
