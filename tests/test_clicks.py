"""Clicks as tables: (the incident as the worker knows it, the click) → what is recorded, or
why nothing changes; and who the thread credits for the worker's own edit."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from tests.factories import AIKO, BEN, T0, at, row, settings
from worker.actions import Action, SnoozedReply, WriteFromSlack
from worker.clicks import (
    Clicker,
    Snooze,
    credited,
    is_external,
    open_refusal,
    snooze_click,
    status_update,
    take_command,
)
from worker.nag import NagMemory
from worker.record import IncidentRecord
from worker.snapshot import Person, parse_incident

S = settings()
PAGE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
BEN_IN_SLACK = Clicker("U0BEN", "T0OURS", "Ben Carter", BEN["email"])
BEN_CREDIT = Person("slack:U0BEN", "Ben Carter", BEN["email"], slack_id="U0BEN")


def incident(phase: Any = "announced", **fields: Any) -> IncidentRecord:
    """An announced SEV2 incident, last updated at T0 (its thread posted)."""
    snapshot = parse_incident(row(PAGE, **fields), S)
    return IncidentRecord(
        page_id=PAGE, snapshot=snapshot, phase=phase, thread_ts="1.000100", last_update_at=T0
    )


OPEN = incident()
RESOLVED = incident(status="Resolved")
TRASHED = replace(OPEN, snapshot=replace(OPEN.snapshot, in_trash=True))
COMMANDED = incident(commander=[AIKO])


@pytest.mark.parametrize(
    ("record", "refusal"),
    [
        pytest.param(OPEN, None, id="open"),
        pytest.param(None, "unknown", id="not an incident the worker follows"),
        pytest.param(incident(phase="waiting"), "unknown", id="not announced"),
        pytest.param(RESOLVED, "resolved", id="resolved"),
        pytest.param(TRASHED, "trashed", id="in the trash"),
    ],
)
def test_what_can_be_done_about_an_incident(
    record: IncidentRecord | None, refusal: str | None
) -> None:
    assert open_refusal(record, S) == refusal


# --- Post update --------------------------------------------------------------------------


def test_a_submitted_update_is_written_in_the_submitters_name_once_per_view() -> None:
    action = status_update(
        OPEN,
        S,
        view_id="V0UPDATE",
        text="  Rolled back; errors down  \n",
        by=BEN_CREDIT,
        now=at(60),
    )
    assert action == Action(
        f"from_slack:{PAGE}:update:V0UPDATE",
        PAGE,
        WriteFromSlack(by=BEN_CREDIT, at=at(60), status_update="Rolled back; errors down"),
    )


@pytest.mark.parametrize(
    ("record", "text", "refusal"),
    [
        pytest.param(OPEN, " \n\t", "empty", id="blanks"),
        pytest.param(RESOLVED, "late news", "resolved", id="resolved meanwhile"),
        pytest.param(None, "news", "unknown", id="no such incident"),
    ],
)
def test_an_update_that_cannot_be_posted(
    record: IncidentRecord | None, text: str, refusal: str
) -> None:
    done = status_update(record, S, view_id="V1", text=text, by=BEN_CREDIT, now=at(60))
    assert done == refusal


# --- Snooze -------------------------------------------------------------------------------

SENT_ONCE = NagMemory(silence_since=T0, nudges_since_update=1, last_nudge_at=at(1800))


def test_a_snooze_puts_the_reminders_off_and_says_so_in_the_thread() -> None:
    done = snooze_click(
        OPEN,
        SENT_ONCE,
        S,
        reminder_silence=T0,
        minutes=30,
        by=BEN_CREDIT,
        click_id="1764320400.1:U0BEN",
        now=at(1900),
    )
    assert isinstance(done, Snooze)
    until = at(1900) + timedelta(minutes=30)
    assert done.memory == replace(SENT_ONCE, snoozed_until=until, snoozed_at=at(1900))
    assert done.note == Action(
        f"reply:{PAGE}:snoozed:1764320400.1:U0BEN",
        PAGE,
        SnoozedReply(by=BEN_CREDIT, minutes=30, until=until),
    )


@pytest.mark.parametrize(
    ("record", "silence", "refusal"),
    [
        pytest.param(RESOLVED, T0, "resolved", id="resolved"),
        pytest.param(OPEN, None, "superseded", id="the reminder is gone"),
        pytest.param(replace(OPEN, last_update_at=at(2000)), T0, "superseded", id="answered since"),
        pytest.param(incident(severity="SEV4"), T0, "no_cadence", id="no update expected"),
        pytest.param(TRASHED, T0, "trashed", id="in the trash"),
    ],
)
def test_a_stale_reminder_is_not_snoozed(
    record: IncidentRecord, silence: Any, refusal: str
) -> None:
    done = snooze_click(
        record,
        SENT_ONCE,
        S,
        reminder_silence=silence,
        minutes=60,
        by=BEN_CREDIT,
        click_id="c",
        now=at(2100),
    )
    assert done == refusal


# --- I'll take command --------------------------------------------------------------------


def test_taking_command_records_a_write_looked_up_by_email_when_carried_out() -> None:
    done = take_command(OPEN, S, clicker=BEN_IN_SLACK, click_id="1.2:U0BEN", now=at(400))
    assert done == Action(
        f"from_slack:{PAGE}:command:1.2:U0BEN",
        PAGE,
        WriteFromSlack(by=BEN_CREDIT, at=at(400), take_command=True),
    )


@pytest.mark.parametrize(
    ("record", "clicker", "refusal"),
    [
        pytest.param(COMMANDED, BEN_IN_SLACK, "has_commander", id="someone took it already"),
        pytest.param(OPEN, replace(BEN_IN_SLACK, email=None), "no_email", id="no email"),
        pytest.param(RESOLVED, BEN_IN_SLACK, "resolved", id="resolved"),
    ],
)
def test_command_that_cannot_be_taken(
    record: IncidentRecord, clicker: Clicker, refusal: str
) -> None:
    assert take_command(record, S, clicker=clicker, click_id="c", now=at(400)) == refusal


# --- Slack Connect, credit ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_team", "ours", "external"),
    [("T0OURS", "T0OURS", False), ("T0THEIRS", "T0OURS", True), ("", "T0OURS", False)],
)
def test_someone_of_another_workspace_is_external(
    user_team: str, ours: str, external: bool
) -> None:
    assert is_external(user_team, ours) is external


UPDATE = WriteFromSlack(by=BEN_CREDIT, at=at(60), status_update="Rolled back")
COMMAND = WriteFromSlack(by=BEN_CREDIT, at=at(60), take_command=True)


@pytest.mark.parametrize(
    ("record", "writes", "credit"),
    [
        pytest.param(
            incident(status_update="Rolled back\n"), [(UPDATE, None)], BEN_CREDIT, id="update"
        ),
        pytest.param(
            incident(status_update="Someone else's words"), [(UPDATE, None)], None, id="other text"
        ),
        pytest.param(
            incident(commander=[BEN]), [(COMMAND, BEN["id"])], BEN_CREDIT, id="took command"
        ),
        pytest.param(
            incident(commander=[AIKO]), [(COMMAND, BEN["id"])], None, id="someone else commands"
        ),
        pytest.param(incident(commander=[BEN]), [(COMMAND, None)], None, id="not looked up yet"),
        pytest.param(incident(), [], None, id="nothing from Slack"),
    ],
)
def test_the_thread_credits_who_asked_from_slack(
    record: IncidentRecord, writes: list[tuple[WriteFromSlack, str | None]], credit: Person | None
) -> None:
    assert credited(record.snapshot, writes) == credit
