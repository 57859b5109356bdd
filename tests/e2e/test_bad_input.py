"""Bad input against the sandbox: a clear error or a defined behaviour, and the rest goes on.

Wrong tokens, a database not shared, a broken schema, untitled rows, long and right-to-left
texts, mention injection, broken templates, an archived channel, a row in the trash, and
no secret anywhere it could be read (issue 6, items 6 and 7).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import (
    Harness,
    message_text,
    page_markdown,
    people,
    rich,
    select,
    title,
    with_template,
)
from worker.check import CheckResult, settings_results
from worker.cli import run_checks
from worker.config import Secret, Settings
from worker.errors import ServiceError
from worker.notion import NotionGateway
from worker.reports import PollReport
from worker.sandbox import Sandbox
from worker.slack import SlackGateway

WRONG_NOTION_TOKEN = "ntn_" + "W" * 46
WRONG_SLACK_TOKEN = "xoxb-000000000000-" + "W" * 24


# --- helpers --------------------------------------------------------------------------------


def _env(h: Harness, **overrides: str) -> dict[str, str]:
    """The environment `check` would see for this harness (what Harness.settings builds)."""
    env = {
        **h.box.worker_env(h.database_id),
        "DATABASE_URL": f"sqlite:///{h.state_dir / 'state.db'}",
        **h.env,
    }
    env.update(overrides)
    return env


def _check(env: dict[str, str]) -> list[CheckResult]:
    """What `incident-worker check` reports, in process."""
    settings, results = settings_results(env)
    if settings is None:
        return results
    return results + run_checks(settings)


def _line(results: list[CheckResult], name: str) -> CheckResult:
    (result,) = [r for r in results if r.name == name]
    return result


def _later(h: Harness, minutes: float) -> PollReport | None:
    """A poll as if `minutes` had passed (backoffs and grace periods run out)."""
    return h.runtime.poll(datetime.now(UTC) + timedelta(minutes=minutes))


def _errors(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR and needle in r.getMessage()
    ]


def _many(text: str, size: int = 1900) -> list[dict[str, Any]]:
    """A long text as Notion takes it: rich text items of at most 2,000 characters."""
    return [{"text": {"content": text[i : i + size]}} for i in range(0, len(text), size)]


def _schema(h: Harness, properties: dict[str, Any]) -> None:
    """Change the data source as a person would in Notion."""
    client = h.client("Aiko")
    try:
        client.data_sources.update(data_source_id=h.data_source_id, properties=properties)
    finally:
        client.close()


def _trash(h: Harness, page: str, *, trashed: bool = True) -> None:
    client = h.client("Aiko")
    try:
        client.pages.update(page_id=page, in_trash=trashed)
    finally:
        client.close()


# --- wrong tokens, a database not shared ----------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "wrong", "failing", "fine"),
    [
        ("NOTION_TOKEN", WRONG_NOTION_TOKEN, "Notion token", "Slack token"),
        ("SLACK_BOT_TOKEN", WRONG_SLACK_TOKEN, "Slack token", "Notion token"),
    ],
)
def test_check_says_which_token_is_wrong_and_how_to_fix_it(
    h: Harness, variable: str, wrong: str, failing: str, fine: str
) -> None:
    results = _check(_env(h, **{variable: wrong}))
    assert _line(results, fine).ok
    bad = _line(results, failing)
    assert not bad.ok
    assert variable in bad.detail  # which setting to fix, not only what Notion said
    assert wrong not in "\n".join(r.line() for r in results)


def test_a_database_unshared_mid_run_is_explained_and_the_worker_catches_up(
    h: Harness,
) -> None:
    page = h.declare("Aiko", "Payments slow", Severity=select("SEV3"))
    h.poll()
    h.box.notion.share(h.box.workspace.parent_page_id, shared=False)
    h.edit("Ben", page, Status=select("Identified"))
    with pytest.raises(ServiceError) as caught:
        h.poll()
    assert caught.value.code == "object_not_found"
    assert "••• → Connections" in str(caught.value)
    results = _check(_env(h))
    assert "••• → Connections" in _line(results, "Incidents database").detail
    h.box.notion.share(h.box.workspace.parent_page_id, shared=True)
    h.poll()
    assert any("→ Identified" in r for r in h.replies_text(page))  # nothing was missed


# --- missing, renamed and retyped properties -----------------------------------------------

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
    results = _check(_env(h))
    assert not _line(results, "property “Severity”").ok


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


def test_check_flags_settings_naming_what_the_database_lacks(h: Harness) -> None:
    env = _env(
        h,
        # The settings agree with each other (config.py checks that); not with the database.
        STATUS_OPTIONS="Investigating,Identified,Contained,Closed",
        RESOLVED_STATUSES="Closed",
        MITIGATED_STATUSES="Contained",
        MIRRORED_PROPERTIES="Name,Status,Root cuase",
    )
    failures = "\n".join(r.line() for r in _check(env) if not r.ok)
    for named in ("RESOLVED_STATUSES", "MITIGATED_STATUSES", "Root cuase"):
        assert named in failures


# --- empty titles ---------------------------------------------------------------------------


def test_an_untitled_row_is_announced_untitled_once_the_grace_period_ends(
    box: Sandbox, tmp_path: Path
) -> None:
    h = Harness(box, tmp_path, DECLARE_GRACE="1h")
    h.declare("Aiko", "", Severity=select("SEV2"))
    h.poll()
    _later(h, 30)
    assert h.top_level() == []  # still within DECLARE_GRACE: someone may be typing
    _later(h, 61)
    (parent,) = h.top_level()
    assert parent["blocks"][0]["text"]["text"] == "SEV2 · Untitled incident"
    h.close()


def test_an_incident_announced_untitled_takes_its_title_later(box: Sandbox, tmp_path: Path) -> None:
    h = Harness(box, tmp_path, DECLARE_GRACE="0s")
    page = h.declare("Aiko", "", Severity=select("SEV2"))
    h.poll()
    (parent,) = h.top_level()
    assert parent["blocks"][0]["text"]["text"] == "SEV2 · Untitled incident"
    assert h.child_pages(page) == ["Untitled incident — Timeline"]
    h.edit("Aiko", page, Name=title("Checkout down"))
    h.poll()
    assert any("— → Checkout down" in r for r in h.replies_text(page))
    assert h.thread_of(page)[0]["blocks"][0]["text"]["text"] == "SEV2 · Checkout down"
    h.close()


def test_a_title_typed_within_the_grace_period_is_announced_with_it(
    box: Sandbox, tmp_path: Path
) -> None:
    h = Harness(box, tmp_path, DECLARE_GRACE="1h")
    page = h.declare("Aiko", "   ", Severity=select("SEV3"))
    h.poll()
    h.edit("Aiko", page, Name=title("Queue backlog"))
    h.poll()
    (parent,) = h.top_level()
    assert parent["blocks"][0]["text"]["text"] == "SEV3 · Queue backlog"
    assert h.replies_text(page) == []
    h.close()


def test_an_untitled_row_is_announced_even_when_other_rows_move_the_cursor_on(
    box: Sandbox, tmp_path: Path
) -> None:
    h = Harness(box, tmp_path, DECLARE_GRACE="10m")
    start = datetime.now(UTC)

    def at(minutes: float) -> datetime:
        moment = start + timedelta(minutes=minutes)
        box.notion.state.clock = lambda: moment  # Notion's own clock, for edit times
        return moment

    at(0)
    untitled = h.declare("Aiko", "", Severity=select("SEV2"))
    h.runtime.poll(at(0.5))
    h.declare("Aiko", "Other incident", Severity=select("SEV3"))
    h.runtime.poll(at(3))
    h.runtime.poll(at(3.5))
    h.runtime.poll(at(15))  # the untitled row's grace ran out long ago
    record = h.runtime.store.get_record(untitled)
    assert record is not None
    assert record.phase == "announced"
    h.close()


# --- texts over 2,000 characters ------------------------------------------------------------

LONG_IMPACT = "".join(f"impact line {i:04d}. " for i in range(400))  # 7,600 characters
LONG_UPDATE = "".join(f"update {i:04d}; " for i in range(500))  # 6,500 characters


def test_long_texts_are_cut_in_slack_with_a_link_to_notion(h: Harness) -> None:
    page = h.declare(
        "Aiko", "Checkout errors", Severity=select("SEV2"), Impact={"rich_text": _many(LONG_IMPACT)}
    )
    h.poll()
    h.edit("Ben", page, **{"Status update": {"rich_text": _many(LONG_UPDATE)}})
    h.poll()
    parent, update = h.thread_of(page)
    assert "impact line 0000." in message_text(parent)
    assert "more in Notion" in message_text(parent)
    assert "update 0000;" in message_text(update)
    assert "update 0499;" not in message_text(update)
    assert "more in Notion" in message_text(update)


def test_a_long_status_update_is_kept_whole_in_the_timeline(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    h.poll()
    h.edit("Ben", page, **{"Status update": {"rich_text": _many(LONG_UPDATE)}})
    h.poll()
    h.poll()
    assert _errors(caplog, "timeline") == []
    record = h.runtime.store.get_record(page)
    assert record is not None
    assert record.timeline_page_id
    assert LONG_UPDATE.strip() in page_markdown(h.box, record.timeline_page_id)


def test_a_2500_character_title_is_announced_with_its_links(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    long_title = ("Checkout errors in every region " * 80)[:2500]
    h.declare("Aiko", "x", Name={"title": _many(long_title)}, Severity=select("SEV2"))
    h.poll()
    h.poll()
    assert _errors(caplog, "invalid_blocks") == []
    (parent,) = h.top_level()
    assert parent["blocks"][0]["text"]["text"].startswith("SEV2 · Checkout errors in every")
    assert "Timeline" in message_text(parent)  # the update with the timeline link went out


# --- emoji, right-to-left and Japanese text --------------------------------------------------


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


# --- mention injection ----------------------------------------------------------------------

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
def test_a_broken_template_is_reported_once_and_slack_carries_on(
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
    results = _check(_env(h))
    assert any(f"en/{name}" in r.detail and not r.ok for r in results)
    h.close()


# --- a channel archived mid-incident ---------------------------------------------------------


def test_a_channel_archived_mid_incident_loses_nothing(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    first = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    second = h.declare("Aiko", "Search slow", Severity=select("SEV3"))
    h.poll()
    h.poll()
    h.box.slack.archive_channel(h.channel)
    h.edit("Ben", first, Status=select("Identified"))
    h.edit("Ben", second, **{"Status update": rich("Reindexing")})
    third = h.declare("Aiko", "Login failures", Severity=select("SEV2"))
    report = h.poll()
    assert report is not None
    assert report.delivery.failed == 0  # kept for later, not given up
    _later(h, 5)
    _later(h, 10)
    archived = _errors(caplog, "is_archived")
    assert 1 <= len(archived) <= 3  # once per incident, however many polls
    assert all("unarchive it" in line for line in archived)
    # Notion keeps going meanwhile: the timeline pages get their entries.
    record = h.runtime.store.get_record(first)
    assert record is not None
    assert record.timeline_page_id
    assert "Status: — → Identified" in page_markdown(h.box, record.timeline_page_id)

    h.box.slack.unarchive_channel(h.channel)
    _later(h, 120)
    _later(h, 121)
    assert [r for r in h.replies_text(first) if "→ Identified" in r] != []
    assert [r for r in h.replies_text(second) if "Reindexing" in r] != []
    assert len(h.top_level()) == 3  # the third incident's thread too, once each
    assert h.replies_text(third) == []
    assert h.box.slack.orphan_replies() == []


def test_a_channel_archived_over_a_weekend_loses_nothing(h: Harness) -> None:
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    h.poll()
    h.poll()
    h.box.slack.archive_channel(h.channel)
    h.edit("Ben", page, Status=select("Identified"))
    h.poll()
    for hour in range(1, 73):  # Friday evening to Monday evening, a poll an hour
        _later(h, 60 * hour)
    h.box.slack.unarchive_channel(h.channel)
    _later(h, 60 * 74)
    assert [r for r in h.replies_text(page) if "→ Identified" in r] != []


# --- a row moved to the trash mid-incident --------------------------------------------------


def test_a_row_moved_to_the_trash_goes_quiet_and_comes_back_when_restored(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Defined behaviour: Notion's queries leave trashed rows out, so the worker sends nothing
    more for it (edits made just before the trash are not mirrored either), nothing fails,
    the other incidents carry on; restored, it continues in the same thread."""
    caplog.set_level(logging.WARNING)
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    other = h.declare("Aiko", "Search slow", Severity=select("SEV3"))
    h.poll()
    h.poll()
    h.edit("Ben", page, Status=select("Monitoring"))
    _trash(h, page)
    h.edit("Ben", other, Status=select("Identified"))
    for minutes in (0, 5, 60):
        report = _later(h, minutes)
        assert report is not None
        assert report.ok
    assert h.replies_text(page) == []
    assert [r for r in h.replies_text(other) if "→ Identified" in r] != []
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []

    _trash(h, page, trashed=False)
    h.edit("Ben", page, Status=select("Resolved"))
    _later(h, 61)
    _later(h, 62)
    assert len(h.top_level()) == 3  # two parents and the resolution broadcast
    assert any("→ Resolved" in r for r in h.replies_text(page))


def test_writes_to_a_row_seen_in_the_trash_are_given_up_with_one_log_line(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    h.box.slack.archive_channel(h.channel)  # the announcement waits …
    h.poll()
    _trash(h, page)  # … and the row goes to the trash meanwhile
    h.box.slack.unarchive_channel(h.channel)
    for hours in (1, 2, 3, 4):
        _later(h, 60 * hours)
    pending = [a.key for a in h.runtime.store.actions_for(page) if a.state == "pending"]
    assert pending == []
    complaints = [
        r for r in caplog.records if "archived" in r.getMessage() and page in r.getMessage()
    ]
    assert len(complaints) <= 1


# --- secrets ----------------------------------------------------------------------------------


def test_no_secret_appears_in_logs_errors_reprs_or_request_logs(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    box = h.box
    secrets = [box.workspace.notion_token, box.workspace.slack_token, WRONG_NOTION_TOKEN]
    secrets += [WRONG_SLACK_TOKEN]
    secrets += [p.notion_token for p in box.workspace.people]
    secrets += [p.slack_token for p in box.workspace.people]
    seen: list[str] = []
    page = h.declare("Aiko", "Checkout errors", Severity=select("SEV2"))
    h.poll()
    h.edit("Ben", page, Status=select("Identified"))
    h.poll()
    seen.append(repr(h.runtime))
    seen.append(repr(h.settings()))

    wrong = Settings.from_env(
        _env(h, NOTION_TOKEN=WRONG_NOTION_TOKEN, SLACK_BOT_TOKEN=WRONG_SLACK_TOKEN)
    )
    notion = NotionGateway.build(wrong)
    slack = SlackGateway.build(wrong)
    for call in (notion.me, notion.data_source_id, slack.auth, lambda: slack.join(h.channel)):
        with pytest.raises(ServiceError) as caught:
            call()
        assert caught.value.status == 401 or caught.value.code == "invalid_auth"
        seen += [str(caught.value), repr(caught.value), repr(caught.value.__cause__)]
    notion.close()
    seen += [r.line() for r in _check(_env(h, NOTION_TOKEN=WRONG_NOTION_TOKEN))]
    seen += [r.line() for r in _check(_env(h))]
    assert repr(Secret(WRONG_NOTION_TOKEN)) == "Secret('***')"

    box.notion.share(box.workspace.parent_page_id, shared=False)
    with pytest.raises(ServiceError) as unshared:
        h.poll()
    seen.append(str(unshared.value))
    box.notion.share(box.workspace.parent_page_id, shared=True)

    seen.append(caplog.text)
    seen += [logging.Formatter().format(r) for r in caplog.records]
    seen.append(json.dumps(box.notion_log.entries()))
    seen.append(json.dumps(box.slack_log.entries()))
    seen.append(json.dumps(box.slack.all_messages(), ensure_ascii=False))
    seen.append(json.dumps(box.notion.dump(), ensure_ascii=False))
    everything = "\n".join(seen)
    assert "401" in json.dumps(box.notion_log.entries())  # the failures were recorded
    leaks = [s[:10] + "…" for s in secrets if s in everything]
    assert leaks == []
