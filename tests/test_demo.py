"""`make demo` tells the whole story, inbound Slack included: a note pinned in the thread lands
on the timeline, and the reminder is answered with its button."""

from __future__ import annotations

import io

from worker.demo import SCRIPTS, run_demo


def test_the_demo_shows_a_pinned_note_and_a_reminder_answered_with_its_button() -> None:
    out = io.StringIO()
    assert run_demo("en", out=out) == 0
    text = out.getvalue()
    thread, _, pages = text.partition("Timeline page (Notion)")
    assert "[ Post update ]  [ Snooze 30 min ]  [ Snooze 1 h ]" in thread
    assert "Posted from Slack by @Ben Carter" in thread
    assert "Reverting — expect recovery by 14:30." in thread  # Ben's reply, as Slack shows it
    timeline = pages.partition("Postmortem page (Notion)")[0]
    (note,) = [line for line in timeline.splitlines() if "expect recovery by 14:30" in line]
    assert "**revert**" in note  # Slack's *bold* as Notion's bold
    assert "[Slack](https://" in note  # a link back to the message
    assert SCRIPTS["en"].updates[0] in timeline
    assert "Traceback" not in text
