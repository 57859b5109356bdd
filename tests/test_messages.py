"""Slack rendering: untrusted Notion text pings nobody, fits Slack's limits, reads well."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, get_args

import pytest

from tests.factories import BEN, T0, row, settings
from worker.config import BUNDLED_TEMPLATES
from worker.messages import (
    HEADER_MAX,
    SECTION_MAX,
    RenderContext,
    Wording,
    escape,
    escape_truncated,
    notice_message,
    nudge_message,
    parent_message,
    reply_message,
    utf16_len,
)
from worker.nag import Nudge, NudgeKind
from worker.plan import nudge_action
from worker.snapshot import Person, parse_incident

S = settings()


def _ctx(locale: str = "en") -> RenderContext:
    def mention(person: Person) -> str:
        return f"<@U{person.name.split()[0].upper()}>" if person.email else escape(person.name)

    return RenderContext(S, Wording.load(BUNDLED_TEMPLATES, locale), mention)


def _all_text(message_blocks: list[dict[str, object]]) -> str:
    return repr(message_blocks)


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("<!channel> DB down", "&lt;!channel&gt; DB down"),
        ("a & b < c > d", "a &amp; b &lt; c &gt; d"),
        ("&lt;", "&amp;lt;"),
        ("<@U123> please", "&lt;@U123&gt; please"),
        (
            "ping @here and @channel and @Everyone",
            "ping @\u2060here and @\u2060channel and @\u2060Everyone",
        ),
        ("email me@here.com", "email me@\u2060here.com"),
        ("日本語 🚒", "日本語 🚒"),
    ],
)
def test_escape(raw: str, safe: str) -> None:
    assert escape(raw) == safe


def test_truncation_never_breaks_an_entity_and_counts_utf16() -> None:
    text = "&" * 10 + "🚒" * 10
    cut = escape_truncated(text, 30)
    assert utf16_len(cut) <= 30
    assert cut.endswith("…")
    assert "&amp" not in cut.replace("&amp;", "")


@pytest.mark.parametrize("field", ["title", "impact", "status_update", "customer_comms"])
def test_mention_injection_in_any_field_pings_nobody(field: str) -> None:
    evil = "<!channel> <!here|here> <@U999> &lt;!everyone&gt; @channel"
    fields = {field: evil}
    incident = parse_incident(row(**fields), S)  # type: ignore[arg-type]
    message = parent_message(incident, _ctx())
    rendered = message.text + _all_text(message.blocks)
    assert "<!" not in rendered
    assert "<@U999>" not in rendered
    assert "@channel" not in rendered


def test_parent_message_shows_the_current_state() -> None:
    incident = parse_incident(
        row(
            title="Checkout down",
            commander=[BEN],
            impact="EU",
            declared_at=T0,
            status_update="Rolled back",
        ),
        S,
    )
    message = parent_message(incident, _ctx())
    text = _all_text(message.blocks)
    assert message.blocks[0]["type"] == "header"
    assert "SEV2 · Checkout down" in text
    assert "<@UBEN>" in text
    assert "Rolled back" in text
    assert "2026-11-28 09:00 UTC" in text
    assert "Incident in Notion" in text
    assert message.text == "[SEV2] Checkout down — Investigating"
    for block in message.blocks:
        if block["type"] == "section" and "text" in block:
            assert block["text"]["verbatim"] is True  # type: ignore[index]


def test_long_texts_are_cut_to_slacks_limits_with_a_link_to_notion() -> None:
    incident = parse_incident(
        row(title="T" * 400, impact="x" * 10_000, status_update="y" * 9_000), S
    )
    message = parent_message(incident, _ctx())
    header = message.blocks[0]["text"]["text"]  # type: ignore[index]
    assert utf16_len(header) <= HEADER_MAX
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section" and "text" in b]  # type: ignore[index]
    assert all(utf16_len(s) <= SECTION_MAX for s in sections)
    assert any("more in Notion" in s for s in sections)


def test_change_reply_reads_old_to_new_with_who() -> None:
    incident = parse_incident(row(), S)
    payload = {
        "type": "changes",
        "changes": [
            {"key": "status", "old": {"text": "Investigating"}, "new": {"text": "Identified"}},
            {
                "key": "commander",
                "old": {"text": "", "people": [], "is_people": True},
                "new": {
                    "text": "Ben Carter",
                    "people": [
                        {
                            "id": BEN["id"],
                            "name": "Ben Carter",
                            "email": BEN["email"],
                            "is_bot": False,
                        }
                    ],
                    "is_people": True,
                },
            },
        ],
        "actor": {"id": BEN["id"], "name": "Ben Carter", "email": BEN["email"], "is_bot": False},
        "at": T0.isoformat(),
        "flags": ["resolved"],
        "escalated_to": None,
    }
    message = reply_message(payload, incident, _ctx())
    body = message.blocks[0]["text"]["text"]  # type: ignore[index]
    assert "*Status:* Investigating → Identified" in body
    assert "*Commander:* — → <@UBEN>" in body
    assert body.startswith(":white_check_mark: *Resolved*")
    assert "Row last edited by <@UBEN> in Notion · 2026-11-28 09:00 UTC" in repr(message.blocks[1])


def test_status_update_reply_quotes_the_text() -> None:
    incident = parse_incident(row(), S)
    payload = {
        "type": "status_update",
        "text": "line one\nline <two>",
        "actor": None,
        "at": T0.isoformat(),
    }
    message = reply_message(payload, incident, _ctx())
    body = message.blocks[0]["text"]["text"]  # type: ignore[index]
    assert "&gt; line one\n&gt; line &lt;two&gt;" in body
    assert "Posted in Notion" in repr(message.blocks[1])


def test_japanese_wording() -> None:
    incident = parse_incident(row(title="決済 API 障害 💳"), S)
    message = parent_message(incident, _ctx("ja"))
    assert "決済 API 障害 💳" in message.blocks[0]["text"]["text"]  # type: ignore[index]
    assert "ステータス" in _all_text(message.blocks)


# --- notices in the channel -------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_a_schema_notice_lists_each_problem_inertly_within_one_section(locale: str) -> None:
    problems = [
        "property “Severity”: has no option 'SEV2' but offers '<!channel> P2'",
        *(f"property “P{i}”: missing; " + "x" * 300 for i in range(20)),
    ]
    message = notice_message({"type": "schema_broken", "problems": problems}, _ctx(locale))
    (block,) = message.blocks
    text = block["text"]["text"]
    assert block["text"]["verbatim"] is True
    assert utf16_len(text) <= SECTION_MAX
    assert "• property “Severity”: has no option 'SEV2' but offers '&lt;!channel&gt; P2'" in text
    assert "<!channel>" not in text + message.text
    assert "incident-worker check" in text  # the closing words survive a long list
    assert "$problems" not in text


def test_a_fits_again_notice_has_no_list() -> None:
    message = notice_message({"type": "schema_fits"}, _ctx())
    assert "fits the worker's settings again" in message.text
    assert "•" not in message.text


# --- reminders, worded for who they call --------------------------------------------------

NUDGE_KINDS: tuple[NudgeKind, ...] = get_args(NudgeKind)
# A sentence that opens with ", " or "さん": a name was meant to stand there.
NAME_LEFT_OUT = "(^|[.。?\N{FULLWIDTH QUESTION MARK}:\N{FULLWIDTH COLON}] ?)(さん|,|、)"
BEN_P = Person(BEN["id"], BEN["name"], BEN["email"])
ROW = "<https://app.notion.com/p/Checkout-aaaaaaaaaaaa4aaa8aaaaaaaaaaaaaaa|Notion>"


def _nudge(
    kind: NudgeKind,
    mention: tuple[Person, ...] = (),
    group: str | None = None,
    *,
    due_min: float = 30,
    late_min: float = 2,
    first: bool = False,
) -> dict[str, Any]:
    """The payload the worker queues for a nudge due `due_min` after T0, found `late_min` late."""
    nudge = Nudge(
        kind=kind,
        key=f"nudge:p:{kind}",
        page_id="p",
        due_at=T0 + timedelta(minutes=due_min),
        overdue_by_s=late_min * 60.0,
        last_update_at=T0,
        mention=mention,
        mention_group=group,
        broadcast=group is not None,
    )
    return nudge_action(nudge, first_update=first).payload


def _nudge_text(payload: dict[str, Any], locale: str = "en", **fields: Any) -> str:
    incident = parse_incident(row(declared_at=T0, **fields), S)
    message = nudge_message(payload, incident, _ctx(locale))
    assert message.text == message.blocks[0]["text"]["text"]
    return message.text


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        pytest.param(
            _nudge("update_overdue", (BEN_P,), due_min=15),
            ":alarm_clock: The next status update is 2 min overdue (the last one was at "
            f"2026-11-28 09:00 UTC). <@UBEN>, please post a new one: write what has changed in "
            f"*Status update* in {ROW} (the same text again is not a new update).",
            id="overdue: the commander",
        ),
        pytest.param(
            _nudge("update_overdue", due_min=15, late_min=0.3, first=True),
            ":alarm_clock: The first status update is less than a minute overdue (declared at "  # noqa: S608
            f"2026-11-28 09:00 UTC). Please post one: edit *Status update* in {ROW}. Nobody is "
            "assigned yet: set *Commander* too, so reminders reach someone.",
            id="first overdue, nobody assigned",
        ),
        pytest.param(
            _nudge("escalation", group="S0ONCALL1", due_min=15, late_min=30),
            ":rotating_light: No status update for 45 min, after 2 reminders, and nobody is "  # noqa: S608
            "assigned. <!subteam^S0ONCALL1>, can someone take command and get an update out? "
            f"Set *Commander* and edit *Status update* in {ROW}.",
            id="escalation, nobody assigned",
        ),
        pytest.param(
            _nudge("no_commander", (BEN_P,), due_min=5, late_min=0),
            ":firefighter: This incident has no commander yet. <@UBEN>, can you take command or "
            f"find someone who will? Set *Commander* in {ROW}.",
            id="no commander: the scribe",
        ),
        pytest.param(
            _nudge("no_commander", group="here", due_min=5, late_min=0),
            ":firefighter: <!here> This incident has no commander yet, and nobody is assigned. "
            f"Can someone take command? Set *Commander* in {ROW}.",
            id="no commander, nobody: the group",
        ),
        pytest.param(
            _nudge("commander_escalation", group="channel", due_min=10, late_min=1),
            ":rotating_light: <!channel> This incident still has no commander, 11 min after it "
            f"was declared. Can someone take command now? Set *Commander* in {ROW}.",
            id="commander escalation",
        ),
        pytest.param(
            _nudge("no_severity", (BEN_P,), due_min=5, late_min=0),
            ":grey_question: This incident has no severity yet, so nobody can tell how urgent "
            f"it is. <@UBEN>, please set *Severity* in {ROW}.",
            id="no severity: the commander",
        ),
        pytest.param(
            _nudge("no_severity", group="channel", due_min=5, late_min=0),
            ":grey_question: <!channel> This incident has no severity yet, so nobody can tell "
            f"how urgent it is. Can someone set *Severity* in {ROW}?",
            id="no severity, nobody: the group",
        ),
        pytest.param(
            _nudge("no_severity", due_min=5, late_min=0),
            ":grey_question: This incident has no severity yet, so nobody can tell how urgent "
            f"it is. Please set *Severity* in {ROW}.",
            id="no severity, nobody, the group already called",
        ),
    ],
)
def test_nudge_wording(payload: dict[str, Any], text: str) -> None:
    assert _nudge_text(payload) == text


def test_the_postmortem_reminder_counts_from_the_resolution() -> None:
    resolved = T0 + timedelta(hours=2)
    payload = _nudge("postmortem_overdue", due_min=2 * 60 + 3 * 24 * 60, late_min=60)
    text = _nudge_text(payload, resolved_at=resolved, status="Resolved")
    assert "still not done, 3 d 1 h after the incident was resolved, and nobody owns it" in text


@pytest.mark.parametrize("locale", ["en", "ja"])
@pytest.mark.parametrize("kind", NUDGE_KINDS)
@pytest.mark.parametrize("group", [None, "channel"])
def test_every_reminder_is_whole_sentences_when_nobody_is_assigned(
    kind: NudgeKind, group: str | None, locale: str
) -> None:
    for first in (False, True):
        text = _nudge_text(_nudge(kind, (), group, first=first), locale, resolved_at=T0)
        assert "$" not in text  # every placeholder filled
        assert "whoever" not in text
        assert "担当者 さん" not in text
        assert not re.search(NAME_LEFT_OUT, text), text
        assert "  " not in text, text
        assert not text.rstrip().endswith((",", "、")), text


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_the_postmortem_draft_reply_reads_well_without_a_commander(locale: str) -> None:
    incident = parse_incident(row(), S)
    payload = {"type": "postmortem", "url": "https://www.notion.so/pm", "due": T0.isoformat()}
    text = reply_message(payload, incident, _ctx(locale)).text
    assert "whoever" not in text
    assert "担当者 さん" not in text
    assert text.endswith(
        ("Please complete it by 2026-11-28 09:00 UTC.", "までに仕上げてください。")
    )


def test_a_wording_file_from_before_the_variants_names_nobody_its_own_way() -> None:
    words = Wording(
        labels={},
        phrases={
            "nudge_no_commander": "No commander yet. Set *$field* in $row. $people",
            "nobody_to_mention": "team",
        },
    )
    ctx = RenderContext(S, words, lambda p: f"<@{p.id}>")
    incident = parse_incident(row(), S)
    message = nudge_message(_nudge("no_commander", group="channel"), incident, ctx)
    assert message.text == f"No commander yet. Set *Commander* in {ROW}. team"


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_every_reminder_has_its_timeline_wording(locale: str) -> None:
    words = Wording.load(BUNDLED_TEMPLATES, locale)
    missing = [k for k in NUDGE_KINDS if f"timeline_{k}" not in words.phrases]
    assert missing == []
