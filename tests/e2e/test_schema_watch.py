"""The Incidents database changed under a running worker: said once in the channel and the log.

A property renamed, deleted or retyped, an option renamed or removed, a new value typed in a
select: `run` notices (a re-read of the schema now and then, and at once when a row cannot
be read), says what no longer fits and how to fix it once, and once more when it fits again
(issue 11, items 14 and 20).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Harness, check, check_env, check_line, message_text, rich, select
from worker.sandbox import Sandbox
from worker.store import outbox_table

LATER = timedelta(minutes=6)  # past the default SCHEMA_CHECK_INTERVAL (5m)


def _schema(h: Harness, properties: dict[str, Any]) -> None:
    """Change the data source as a person would in Notion."""
    client = h.client("Aiko")
    try:
        client.data_sources.update(data_source_id=h.data_source_id, properties=properties)
    finally:
        client.close()


def _options(h: Harness, prop: str) -> list[dict[str, Any]]:
    client = h.client("Aiko")
    try:
        source: dict[str, Any] = client.data_sources.retrieve(h.data_source_id)  # type: ignore[assignment]
    finally:
        client.close()
    return [dict(o) for o in source["properties"][prop]["select"]["options"]]


def _rename_option(h: Harness, prop: str, old: str, new: str) -> None:
    options = [
        {"id": o["id"], "name": new if o["name"] == old else o["name"]} for o in _options(h, prop)
    ]
    _schema(h, {prop: {"select": {"options": options}}})


def _remove_option(h: Harness, prop: str, name: str) -> None:
    options = [{"id": o["id"], "name": o["name"]} for o in _options(h, prop) if o["name"] != name]
    _schema(h, {prop: {"select": {"options": options}}})


def _notices(h: Harness) -> list[str]:
    """Top-level messages that are no incident's parent (nor a reply sent to the channel)."""
    parents = {r.thread_ts for r in h.runtime.store.records()}
    return [
        message_text(m)
        for m in h.top_level()
        if m["ts"] not in parents and m.get("subtype") != "thread_broadcast"
    ]


def _poll_at(h: Harness, moment: datetime) -> None:
    assert h.runtime.poll(moment) is not None


def _warnings(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and needle in r.getMessage()
    ]


# --- options renamed, removed, added ----------------------------------------------------------


def test_a_renamed_severity_is_said_once_in_the_channel_and_once_in_the_log(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    h.poll()
    _rename_option(h, "Severity", "SEV2", "P2")
    now = datetime.now(UTC)
    _poll_at(h, now + LATER)
    (notice,) = _notices(h)
    assert "no longer fits" in notice
    assert "'SEV2'" in notice  # what the settings name and the database lost
    assert "'P2'" in notice  # what the database offers that the settings do not know
    assert "SEVERITY_OPTIONS" in notice  # how to fix it from the settings side
    assert "rename" in notice  # … or in Notion
    (logged,) = _warnings(caplog, "no longer fits")
    assert "SEV2" in logged

    for minutes in (7, 13, 20):  # the same problem again and again: nothing more
        _poll_at(h, now + timedelta(minutes=minutes))
    h.restart()  # … across a restart too
    _poll_at(h, now + timedelta(minutes=30))
    assert len(_notices(h)) == 1
    assert len(_warnings(caplog, "no longer fits")) == 1


def test_renaming_it_back_is_said_once_as_fitting_again(h: Harness) -> None:
    h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    h.poll()
    _rename_option(h, "Severity", "SEV2", "P2")
    now = datetime.now(UTC)
    _poll_at(h, now + LATER)
    _rename_option(h, "Severity", "P2", "SEV2")
    _poll_at(h, now + 2 * LATER)
    _poll_at(h, now + 3 * LATER)
    broken, fits = _notices(h)
    assert "no longer fits" in broken
    assert "fits the worker's settings again" in fits


def test_a_removed_status_option_is_named_with_how_to_fix_it(h: Harness) -> None:
    h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    h.poll()
    _remove_option(h, "Status", "Monitoring")
    _poll_at(h, datetime.now(UTC) + LATER)
    (notice,) = _notices(h)
    assert "“Status”" in notice
    assert "'Monitoring'" in notice
    assert "STATUS_OPTIONS" in notice


def test_an_unknown_status_typed_on_a_row_is_named(h: Harness) -> None:
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    h.poll()
    h.edit("Ben", page, Status=select("Closed"))  # Notion adds the option as it is typed
    _poll_at(h, datetime.now(UTC) + LATER)
    (notice,) = _notices(h)
    assert "'Closed'" in notice
    assert "STATUS_OPTIONS" in notice
    assert "RESOLVED_STATUSES" in notice  # if it means the incident is over


# --- properties renamed, deleted, retyped: once in the channel, never in every thread -------


@pytest.mark.parametrize(
    "change",
    [{"Severity": {"name": "Sev"}}, {"Severity": None}, {"Severity": {"rich_text": {}}}],
    ids=["renamed", "deleted", "retyped"],
)
def test_a_broken_property_is_said_once_in_the_channel_not_in_every_thread(
    h: Harness, caplog: pytest.LogCaptureFixture, change: dict[str, Any]
) -> None:
    caplog.set_level(logging.WARNING)
    first = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    second = h.declare("Aiko", "Search slow", Severity=select("SEV3"))
    h.poll()
    h.poll()
    _schema(h, change)
    h.edit("Ben", first, Status=select("Identified"))
    h.edit("Chidi", second, **{"Status update": rich("Reindexing, 20 min to go")})
    h.poll()  # the rows cannot be read whole: the schema is looked at at once
    h.poll()
    for page in (first, second):
        assert not [r for r in h.replies_text(page) if "could not" in r or "Severity" in r]
    (notice,) = _notices(h)
    assert "“Severity”" in notice
    if change["Severity"] is None or "name" in change["Severity"]:
        assert "rename it back" in notice
        assert "NOTION_PROPERTY_NAMES='Severity=&lt;your name&gt;'" in notice
    else:
        assert "change it to select" in notice
    assert len(_warnings(caplog, "no longer fits")) == 1
    assert len(_warnings(caplog, "Severity")) <= 2  # the row's problem once, the verdict once
    h.restart()
    h.poll()
    assert len(_notices(h)) == 1


def test_mapping_the_renamed_property_and_restarting_fits_again(
    box: Sandbox, tmp_path: Path
) -> None:
    h = Harness(box, tmp_path)
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    h.poll()
    _schema(h, {"Severity": {"name": "Sev"}})
    h.edit("Ben", page, Status=select("Identified"))
    h.poll()
    h.env["NOTION_PROPERTY_NAMES"] = "Severity=Sev"
    h.restart()
    h.poll()
    h.poll()
    broken, fits = _notices(h)
    assert "“Severity”" in broken
    assert "again" in fits
    h.edit("Ben", page, Sev=select("SEV1"))
    h.poll()
    assert any("SEV2 → SEV1" in r for r in h.replies_text(page))  # mirrored again
    h.close()


def test_a_notice_whose_post_may_have_failed_is_found_again_not_posted_twice(h: Harness) -> None:
    h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    h.poll()
    _remove_option(h, "Status", "Monitoring")
    now = datetime.now(UTC) + LATER
    _poll_at(h, now)
    assert len(_notices(h)) == 1
    # As if the worker died after Slack took the post and before it marked it done.
    with h.runtime.store.transaction() as conn:
        conn.execute(
            outbox_table.update()
            .where(outbox_table.c.kind == "post_notice")
            .values(state="sending", first_attempt_at=time.time())
        )
    report = h.runtime.worker.effects.run_due(now)
    assert report.reconciled == 1
    assert len(_notices(h)) == 1


# --- a broken property: logged once, everything else mirrored ---------------------------------

SCHEMA_CHANGES = {
    "renamed": {"Severity": {"name": "Sev"}},
    "deleted": {"Severity": None},
    "retyped": {"Severity": {"rich_text": {}}},
}


def _two_incidents_then_break_severity(h: Harness, change: str) -> tuple[str, str]:
    first = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    second = h.declare("Aiko", "Search slow", Severity=select("SEV3"))
    h.poll()
    h.poll()
    _schema(h, SCHEMA_CHANGES[change])
    h.edit("Ben", first, Status=select("Identified"))
    h.edit("Chidi", second, **{"Status update": rich("Reindexing, 20 min to go")})
    h.poll()
    h.poll()
    return first, second


@pytest.mark.parametrize("change", SCHEMA_CHANGES)
def test_a_broken_property_is_logged_and_everything_else_keeps_mirroring(
    h: Harness, change: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    first, second = _two_incidents_then_break_severity(h, change)
    assert any("*Status:* — → Identified" in r for r in h.replies_text(first))
    assert any("Reindexing, 20 min to go" in r for r in h.replies_text(second))
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    # Two broken rows, two polls: the row problem is logged once (its cause is the database,
    # not the row), and what to do about it once, by the schema watch.
    assert sum("'Severity'" in w for w in warnings) == 1, warnings
    assert sum("no longer fits the settings" in w for w in warnings) == 1, warnings
    results = check(check_env(h))
    assert not check_line(results, "property “Severity”").ok


def test_a_broken_property_is_not_announced_as_a_change(h: Harness) -> None:
    page = h.declare(
        "Aiko",
        "Checkout errors",
        Severity=select("SEV2"),
        Impact=rich("30% of payments"),
        **{"Customer comms": select("Internal only")},
    )
    h.poll()
    h.poll()
    _schema(h, {"Severity": {"name": "Sev"}, "Customer comms": None, "Impact": {"number": {}}})
    h.edit("Ben", page, Status=select("Identified"))
    h.poll()
    h.poll()
    # The broken database is said once in the channel (tests/e2e/test_schema_watch.py),
    # not in the incident's thread.
    (reply,) = h.replies_text(page)
    assert "→ Identified" in reply
    for name in ("Severity", "Customer comms", "Impact"):
        assert name not in reply
