"""Slack rendering: untrusted Notion text pings nobody, fits Slack's limits, reads well."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from slack_sdk import WebClient

from tests.factories import BEN, T0, rich, row, settings
from worker.actions import (
    ChangesReply,
    LinksRestoredReply,
    PageTrashedReply,
    PostmortemReply,
    PostNotice,
    PostNudge,
    ProblemReply,
    RefusedReply,
    Reply,
    SnoozedReply,
    StatusUpdateReply,
    TrashedReply,
    ValueProblemReply,
)
from worker.config import BUNDLED_TEMPLATES, Settings
from worker.diff import Change
from worker.messages import (
    BLOCKS_TEXT_MAX,
    HEADER_MAX,
    SECTION_MAX,
    RenderContext,
    SlackMessage,
    Wording,
    escape,
    escape_truncated,
    notice_message,
    nudge_message,
    parent_message,
    plain_message,
    refused_notice,
    reply_message,
    utf16_len,
)
from worker.nag import Nudge, NudgeKind
from worker.plan import nudge_action
from worker.sandbox.slack.blocks import blocks_text_length, validate_blocks
from worker.sandbox.slack.pings import message_pings
from worker.slack import SlackGateway
from worker.slack_fit import fits
from worker.snapshot import Incident, Person, Value, parse_incident

S = settings()
INBOUND = settings(SLACK_SIGNING_SECRET="0" * 32)  # inbound Slack: messages with buttons


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
        ("@heredoc @channels", "@\u2060heredoc @\u2060channels"),  # a cut could leave the word
        ("日本語 🚒", "日本語 🚒"),
    ],
)
def test_escape(raw: str, safe: str) -> None:
    assert escape(raw) == safe


def test_a_cut_never_makes_a_broadcast_word() -> None:
    # Found by hypothesis: "@herea" cut after "@here" read "@here…", a ping of the channel.
    text = escape_truncated("x|@herea~d" * 10, 8)
    assert message_pings(text, [], None, parse_names=True) == set()


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
    ben = Person(BEN["id"], "Ben Carter", BEN["email"])
    payload = ChangesReply(
        at=T0,
        changes=(
            Change("status", Value("Investigating"), Value("Identified")),
            Change(
                "commander",
                Value(is_people=True),
                Value("Ben Carter", people=(ben,), is_people=True),
            ),
        ),
        actor=ben,
        flags=("resolved",),
    )
    message = reply_message(payload, incident, _ctx())
    body = message.blocks[0]["text"]["text"]  # type: ignore[index]
    assert "*Status:* Investigating → Identified" in body
    assert "*Commander:* — → <@UBEN>" in body
    assert body.startswith(":white_check_mark: *Resolved*")
    assert "Row last edited by <@UBEN> in Notion · 2026-11-28 09:00 UTC" in repr(message.blocks[1])


def test_status_update_reply_quotes_the_text() -> None:
    incident = parse_incident(row(), S)
    payload = StatusUpdateReply(text="line one\nline <two>", at=T0)
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
    message = notice_message(PostNotice("schema_broken", tuple(problems)), _ctx(locale))
    (block,) = message.blocks
    text = block["text"]["text"]
    assert block["text"]["verbatim"] is True
    assert utf16_len(text) <= SECTION_MAX
    assert "• property “Severity”: has no option 'SEV2' but offers '&lt;!channel&gt; P2'" in text
    assert "<!channel>" not in text + message.text
    assert "incident-worker check" in text  # the closing words survive a long list
    assert "$problems" not in text


def test_with_several_databases_a_notice_names_its_database_first() -> None:
    message = notice_message(PostNotice("schema_fits", database="Payments <ops>"), _ctx())
    (block,) = message.blocks
    assert block["text"]["text"].startswith("*Payments &lt;ops&gt;*\n")
    assert "fits the worker's settings again" in block["text"]["text"]


def test_a_fits_again_notice_has_no_list() -> None:
    message = notice_message(PostNotice("schema_fits"), _ctx())
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
) -> PostNudge:
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
    payload = nudge_action(nudge, first_update=first).payload
    assert isinstance(payload, PostNudge)
    return payload


def _nudge_text(payload: PostNudge, locale: str = "en", **fields: Any) -> str:
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
def test_nudge_wording(payload: PostNudge, text: str) -> None:
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
    payload = PostmortemReply(url="https://www.notion.so/pm", due=T0)
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


# --- every message fits Slack, whatever Notion holds (hypothesis) ---------------------------

# What people type: markup, control characters, pings, Japanese, emoji of every make.
TRICKY = [
    "<!channel>",
    "<!here|here>",
    "<@U999>",
    "@channel",
    "@here",
    "@everyone",
    "&",
    "&amp;",
    "<",
    ">",
    "&lt;",
    "*bold*",
    "_it_",
    "~s~",
    "`c`",
    "```",
    "> quote",
    "\n",
    "\n\n",
    " ",
    "障害対応中",
    "ロールバック",
    "🚒",
    "👩🏽‍💻",
    "🇯🇵",
    "e\u0301",
    "\u202e",
    "|",
    "https://x.y/a?b=<c>",
    "\ud83d",  # half an emoji: a lone surrogate, as JSON can carry it
]
_piece = st.sampled_from(TRICKY) | st.text(max_size=8)
_short = st.lists(_piece, max_size=12).map("".join)
# Long texts: a run of pieces repeated up to thousands of times (hypothesis draws fast).
_long = st.builds(lambda run, times: run * times, _short, st.integers(1, 300))
text = st.one_of(_short, _long)


@st.composite
def person(draw: st.DrawFn) -> Person:
    name = draw(text)
    email = draw(
        st.none()
        | st.just(f"{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}@x.io")
    )
    return Person(id=draw(st.uuids()).hex, name=name, email=email)


crowd = st.lists(person(), max_size=40).map(tuple)
url = st.sampled_from(
    [
        "",
        "https://www.notion.so/Checkout-down-0123456789abcdef0123456789abcdef",
        "https://www.notion.so/" + "Very-long-title-" * 30 + "0123456789abcdef0123456789abcdef",
    ]
)


@st.composite
def value(draw: st.DrawFn) -> Value:
    if draw(st.booleans()):
        return Value(
            text=", ".join(p.name for p in draw(crowd)), people=draw(crowd), is_people=True
        )
    return Value(text=draw(text))


@st.composite
def incident(draw: st.DrawFn) -> Incident:
    props = draw(st.lists(st.tuples(text, value()), max_size=8))
    return Incident(
        page_id="aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
        url=draw(url),
        created_time=T0,
        last_edited_time=T0,
        last_edited_by=None,
        title=draw(text),
        status=draw(st.none() | text),
        severity=draw(st.none() | text),
        commander=draw(crowd),
        scribe=draw(crowd),
        impact=draw(text),
        status_update=draw(text),
        customer_comms=draw(st.none() | text),
        declared_at=T0,
        next_update_due=draw(st.none() | st.just(T0 + timedelta(minutes=30))),
        timeline_url=draw(st.none() | url),
        postmortem_url=draw(st.none() | url),
        mirrored=tuple((f"prop:{name}", v) for name, v in props),
    )


@st.composite
def replies(draw: st.DrawFn) -> list[Reply]:
    actor = draw(st.none() | person())
    keys = st.sampled_from(["status", "severity", "commander", "impact"]) | text.map(
        lambda name: f"prop:{name}"
    )
    changes = tuple(
        Change(key, old, new)
        for key, old, new in draw(st.lists(st.tuples(keys, value(), value()), max_size=12))
    )
    flags = draw(
        st.lists(st.sampled_from(["resolved", "reopened", "mitigated", "restored"]), max_size=4)
    )
    return [
        ChangesReply(
            at=T0,
            changes=changes,
            actor=actor,
            flags=tuple(flags),
            escalated_to=draw(st.none() | text),
        ),
        StatusUpdateReply(text=draw(text), at=T0, actor=actor),
        ProblemReply(what="create_timeline", error=draw(text)),
        PostmortemReply(url=draw(url) or "https://www.notion.so/x", due=T0),
        PostmortemReply(url="https://www.notion.so/x", due=None),
        RefusedReply(what="parent", error=draw(text)),
        TrashedReply(at=T0, actor=actor),
        LinksRestoredReply(keys=("slack_thread", "timeline", "postmortem")),
        PageTrashedReply(what="timeline", page=draw(text)),
        ValueProblemReply(problem=draw(text)),
    ]


def _nudges(mention: tuple[Person, ...]) -> list[PostNudge]:
    return [
        PostNudge(
            kind=kind,
            overdue_by_s=4000.0,
            due_at=T0,
            last_update_at=T0 - timedelta(hours=1),
            first=first,
            mention=mention,
            mention_group=group,
        )
        for kind in NUDGE_KINDS
        for first in (True, False)
        for group in (None, "channel")
    ]


_CONTROL = re.compile(r"<(@U[A-Z0-9]+|https?://[^<>|\s]+\|[^<>]*|!subteam\^[A-Z0-9]+|!channel)>")


def _mention(person: Person) -> str:
    """What the gateway does: a Slack mention where the email is known, else the name."""
    if person.email:
        return (
            "<@U"
            + hashlib.sha256(person.email.encode("utf-8", "surrogatepass")).hexdigest()[:9].upper()
            + ">"
        )
    return escape(person.name or "someone")


def _assert_fits_slack(message: SlackMessage, allowed_pings: set[str]) -> None:
    blocks, body = message.blocks, message.text
    assert fits(blocks, body), "the builder left work for the last line of defence"
    assert validate_blocks(blocks) == []  # the sandbox's own Block Kit checks
    assert blocks_text_length(blocks) <= BLOCKS_TEXT_MAX
    assert len(blocks) <= 50
    assert body
    for where in [body, *(_texts(blocks))]:
        assert where
        # No broken entity, and every <…> is one the worker wrote whole.
        assert not re.search(r"&(?!amp;|lt;|gt;)", where), where
        leftover = _CONTROL.sub("", where)
        assert "<" not in leftover, where
        assert ">" not in leftover, where
    pings = message_pings(body, blocks, None, parse_names=True)
    assert pings <= allowed_pings


def _texts(blocks: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            found.append(block["text"]["text"])
        for item in block.get("fields", []) + block.get("elements", []):
            label = item["text"]
            found.append(label["text"] if isinstance(label, dict) else label)  # a button's
    return found


def _allowed(*groups: tuple[Person, ...]) -> set[str]:
    return {_mention(p)[1:-1] for group in groups for p in group if p.email}


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    incident=incident(),
    planned=replies(),
    problems=st.lists(text, max_size=30),
    locale=st.sampled_from(["en", "ja"]),
)
def test_every_message_fits_every_slack_limit_whatever_notion_holds(
    incident: Incident, planned: list[Reply], problems: list[str], locale: str
) -> None:
    # With inbound Slack: the messages carry their buttons too.
    ctx = RenderContext(INBOUND, Wording.load(BUNDLED_TEMPLATES, locale), _mention)
    people = incident.commander + incident.scribe
    from_values = tuple(p for _, v in incident.mirrored for p in v.people)
    built = [(parent_message(incident, ctx), _allowed(people, from_values))]
    for payload in planned:
        changes = payload.changes if isinstance(payload, ChangesReply) else ()
        in_payload = tuple(p for change in changes for p in change.old.people + change.new.people)
        with_actor = isinstance(payload, ChangesReply | StatusUpdateReply | TrashedReply)
        actor = payload.actor if with_actor else None
        allowed = _allowed(people, in_payload, (actor,) if actor else ())
        built.append((reply_message(payload, incident, ctx), allowed))
    for nudge in _nudges(people):
        calls_group = nudge.mention_group or nudge.kind.endswith("escalation")
        allowed = _allowed(people) | ({"!channel"} if calls_group else set())
        key = f"nudge:{incident.page_id}:{nudge.kind}"
        built.append((nudge_message(nudge, incident, ctx, key=key), allowed))
    built.append((refused_notice(incident, ctx.words, "invalid_blocks"), set()))
    for notice in ("schema_broken", "schema_fits"):
        built.append((notice_message(PostNotice(notice, tuple(problems)), ctx), set()))
    for message, allowed in list(built):
        built.append((plain_message(message, incident, ctx.words), allowed))
    for message, allowed in built:
        _assert_fits_slack(message, allowed)


BIG = "<!channel> & 障害 🚒 👩🏽‍💻 *x* @here\n" * 3000  # 90,000 characters of everything


def test_every_field_long_at_once_still_fits_every_limit() -> None:
    crowd = tuple(
        Person(id=str(i), name=BIG[:5000], email=None if i % 2 else f"p{i}@x.io") for i in range(40)
    )
    incident = Incident(
        page_id="aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
        url="https://www.notion.so/Checkout-0123456789abcdef0123456789abcdef",
        created_time=T0,
        last_edited_time=T0,
        last_edited_by=None,
        title=BIG,
        status=BIG,
        severity=BIG,
        commander=crowd,
        scribe=crowd,
        impact=BIG,
        status_update=BIG,
        customer_comms=BIG,
        declared_at=T0,
        next_update_due=T0,
        timeline_url="https://www.notion.so/" + "t" * 5000,
        postmortem_url="https://example.com/" + "p" * 5000,
        mirrored=tuple((f"prop:{BIG[:3000]}{i}", Value(text=BIG)) for i in range(8)),
    )
    ctx = RenderContext(INBOUND, Wording.load(BUNDLED_TEMPLATES, "en"), _mention)
    someone = crowd[0]
    change = Change("prop:" + BIG, Value(BIG), Value(BIG, people=crowd, is_people=True))
    changes = ChangesReply(
        at=T0, changes=(change,) * 12, actor=someone, flags=("resolved",), escalated_to=BIG
    )
    messages = [
        parent_message(incident, ctx),
        reply_message(StatusUpdateReply(text=BIG, at=T0, actor=someone), incident, ctx),
        reply_message(changes, incident, ctx),
        reply_message(ProblemReply(what="row", error=BIG), incident, ctx),
        reply_message(PostmortemReply(url=incident.url or "", due=T0), incident, ctx),
        *(nudge_message(n, incident, ctx, key=f"nudge:{n.kind}") for n in _nudges(crowd)),
    ]
    allowed = _allowed(crowd) | {"!channel"}
    plain = [plain_message(m, incident, ctx.words) for m in messages]
    for message in messages + plain:
        _assert_fits_slack(message, allowed)
    # Notion's text is cut with a link to the row: in the parent, the update, the changes.
    more = "0123456789abcdef0123456789abcdef|more in Notion>"
    assert all(more in repr(m.blocks) for m in messages[:3])
    assert all(m.text.endswith(more) for m in plain)


# --- bad input: Slack's own block validator and ping parser (the sandbox's) are the oracles --

WORDS = Wording.load(BUNDLED_TEMPLATES, "en")


def _slack_gateway(s: Settings = S) -> SlackGateway:
    # People without an email never reach the network: their name is shown, escaped.
    return SlackGateway(WebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/api/"), s)


def _ids_mention(person: Person) -> str:
    """Everyone has a Slack account: a proper mention."""
    return f"<@U{person.id[:8].upper()}>"


def _slack_ctx(mention: Any = None) -> RenderContext:
    return RenderContext(S, WORDS, mention or _slack_gateway().mention)


def _problems(message: SlackMessage) -> list[str]:
    """What Slack would refuse in this message: its blocks, and the text's 40,000 limit."""
    problems = validate_blocks(message.blocks)
    if len(message.text) > 40_000:
        problems.append("text longer than 40,000 characters")
    return problems


def _pings(message: SlackMessage) -> set[str]:
    return message_pings(message.text, message.blocks, None, parse_names=False)


def _message_text(message: SlackMessage) -> str:
    return message.text + "\n" + json.dumps(message.blocks, ensure_ascii=False)


def _people(count: int, name: str = "Responder {i:03d}", *, email: bool = False) -> list[Any]:
    return [
        {
            "id": f"{i:08x}-0000-4000-8000-{i:012x}",
            "name": name.format(i=i),
            "email": f"r{i}@example.com" if email else None,
        }
        for i in range(count)
    ]


def _notion_user(person: dict[str, Any]) -> dict[str, Any]:
    user: dict[str, Any] = {"object": "user", "id": person["id"], "name": person["name"]}
    user["type"] = "person"
    user["person"] = {"email": person["email"]} if person.get("email") else {}
    return user


def _with_people(raw: dict[str, Any], field: str, people: list[Any]) -> dict[str, Any]:
    raw["properties"][field]["people"] = [_notion_user(p) for p in people]
    return raw


def _changes_payload(key: str, old: Value, new: Value) -> ChangesReply:
    return ChangesReply(at=T0, changes=(Change(key, old, new),))


def _value(text: str = "", people: list[Person] | None = None) -> Value:
    return Value(text=text, people=tuple(people or ()), is_people=people is not None)


# --- a row with 100 people -----------------------------------------------------------------


def test_100_people_with_slack_accounts_fit_the_parent_message() -> None:
    people = _people(100, email=True)
    incident = parse_incident(_with_people(row(), "Commander", people), S)
    assert len(incident.commander) == 100
    message = parent_message(incident, _slack_ctx(_ids_mention))
    assert _problems(message) == []
    assert len(_pings(message)) == 100  # exactly the commanders


def test_100_people_without_slack_accounts_fit_the_parent_message() -> None:
    people = _people(100, "Responder number {i:03d}")
    incident = parse_incident(_with_people(row(), "Commander", people), S)
    message = parent_message(incident, _slack_ctx())
    assert _problems(message) == []  # today: invalid_blocks, the incident is never announced
    assert "Responder number 000" in _message_text(message)


def test_a_change_to_100_people_names_the_first_of_them() -> None:
    people = [Person(**p) for p in _people(100, "Responder {i:03d} Example-Longname")]
    incident = parse_incident(row(), S)
    payload = _changes_payload("commander", _value(people=[]), _value(people=people))
    message = reply_message(payload, incident, _slack_ctx())
    assert _problems(message) == []
    assert "Responder 000 Example-Longname" in message.blocks[0]["text"]["text"]


# --- texts over 2,000 characters -----------------------------------------------------------


def test_long_texts_are_cut_in_the_parent_and_an_update_with_a_link_to_notion() -> None:
    long = "".join(f"word{i:05d} " for i in range(800))  # 8,000 characters
    incident = parse_incident(row(title=long[:3000], impact=long, status_update=long), S)
    message = parent_message(incident, _slack_ctx())
    assert _problems(message) == []
    assert utf16_len(message.blocks[0]["text"]["text"]) <= HEADER_MAX
    text = _message_text(message)
    assert "word00000" in text
    assert "word00799" not in text
    assert "more in Notion" in text
    update = StatusUpdateReply(text=long, at=T0)
    reply = reply_message(update, incident, _slack_ctx())
    assert _problems(reply) == []
    # Quoted over two sections at most; the last one ends with the link.
    assert len(reply.blocks) == 3
    assert "more in Notion" in reply.blocks[-2]["text"]["text"]


def test_a_long_custom_property_change_fits_one_reply() -> None:
    incident = parse_incident(row(), S)
    payload = _changes_payload("prop:Root cause", _value("short"), _value("x" * 7000))
    message = reply_message(payload, incident, _slack_ctx())
    assert _problems(message) == []
    assert "*Root cause:* short → xxx" in message.blocks[0]["text"]["text"]


# --- emoji, right-to-left and Japanese text ------------------------------------------------

WORLD = [
    "فشل الدفع في أوروبا 💳",  # Arabic
    "כשל בתשלומים באירופה 🔥",  # Hebrew
    "決済 API が 500 エラー 🙇‍♀️",  # Japanese, with a ZWJ emoji sequence
    "Zahlungen ⚠️ 👩🏽‍💻 🇯🇵 e\u0301",  # variation selector, skin tone, flag, combining accent
    "\u202eRTL override\u202c and \u2066isolate\u2069",  # bidi controls pass through
]


@pytest.mark.parametrize("text", WORLD)
def test_any_script_comes_through_unchanged(text: str) -> None:
    incident = parse_incident(row(title=text, impact=text, status_update=text), S)
    message = parent_message(incident, _slack_ctx())
    assert _problems(message) == []
    assert message.blocks[0]["text"]["text"] == f"SEV2 · {text}"
    assert text in message.blocks[2]["text"]["text"]  # Impact
    update = StatusUpdateReply(text=text, at=T0)
    assert text in reply_message(update, incident, _slack_ctx()).blocks[0]["text"]["text"]


@pytest.mark.parametrize("symbol", ["🔥", "👩🏽‍💻", "ع", "日"])
def test_a_header_full_of_wide_characters_is_cut_on_a_character(symbol: str) -> None:
    incident = parse_incident(row(title=symbol * 200), S)
    header = parent_message(incident, _slack_ctx()).blocks[0]["text"]["text"]
    assert utf16_len(header) <= HEADER_MAX
    assert header.endswith("…")
    header.encode("utf-8")  # no half of a surrogate pair left behind


# --- mention injection in every field, and in people's names -------------------------------

EVIL = (
    "<!channel> <!here> <!everyone> <@U0000000000> <!subteam^S0000|@oncall> @here &lt;!channel&gt;"
)
EVIL_PERSON = Person(id="99999999-9999-4999-8999-999999999999", name=EVIL)


def _evil_incident() -> Incident:
    s = settings(MIRRORED_PROPERTIES="Name,Status,Severity,Commander,Impact,Root cause,Runbook")
    extra = {
        "Root cause": {"id": "rc", "type": "rich_text", "rich_text": rich(EVIL)},
        "Runbook": {"id": "rb", "type": "url", "url": EVIL},
    }
    raw = row(
        title=EVIL,
        status=EVIL.replace(",", " "),
        severity=EVIL.replace(",", " "),
        impact=EVIL,
        status_update=EVIL,
        customer_comms=EVIL.replace(",", " "),
        extra=extra,
    )
    raw["properties"]["Commander"]["people"] = [
        {"object": "user", "id": EVIL_PERSON.id, "name": EVIL, "type": "person", "person": {}}
    ]
    raw["properties"]["Scribe"]["people"] = raw["properties"]["Commander"]["people"]
    return parse_incident(raw, s)


def _evil_messages() -> list[SlackMessage]:
    incident = _evil_incident()
    ctx = _slack_ctx()
    evil_value = _value(EVIL)
    payload = ChangesReply(
        at=T0,
        changes=(
            Change("impact", evil_value, evil_value),
            Change("commander", _value(people=[]), _value(people=[EVIL_PERSON])),
            Change("prop:Runbook", _value(), evil_value),
            Change("prop:" + EVIL, _value(), evil_value),  # a property so named
        ),
        actor=EVIL_PERSON,
    )
    update = StatusUpdateReply(text=EVIL, at=T0, actor=EVIL_PERSON)
    problem = ProblemReply(what="create_timeline", error=f"template: {EVIL}")
    nudge = PostNudge(
        kind="update_overdue",
        overdue_by_s=300.0,
        due_at=T0,
        last_update_at=T0 - timedelta(minutes=30),
        mention=(EVIL_PERSON,),
    )
    return [
        parent_message(incident, ctx),
        reply_message(payload, incident, ctx),
        reply_message(update, incident, ctx),
        reply_message(problem, incident, ctx),
        nudge_message(nudge, incident, ctx),
    ]


@pytest.mark.parametrize("index", range(5), ids=["parent", "changes", "update", "problem", "nudge"])
def test_injected_mentions_ping_nobody(index: int) -> None:
    message = _evil_messages()[index]
    assert _pings(message) == set()
    assert _problems(message) == []


def test_an_escaped_entity_typed_in_notion_reads_as_typed() -> None:
    message = _evil_messages()[0]
    impact = message.blocks[2]["text"]["text"]
    assert "&amp;lt;!channel&amp;gt;" in impact  # Slack shows "&lt;!channel&gt;", as typed
    assert "&lt;!channel&gt;" in impact  # and "<!channel>" as text, not as a ping


# --- buttons (with inbound Slack) -------------------------------------------------------------

BEN_PERSON = Person(BEN["id"], BEN["name"], BEN["email"])


def _inbound_ctx(locale: str = "en") -> RenderContext:
    return replace(_ctx(locale), settings=INBOUND)


def _buttons(message: SlackMessage) -> list[tuple[str, str]]:
    return [
        (element["action_id"], element["text"]["text"])
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_the_parent_offers_post_update_while_the_incident_is_open(locale: str) -> None:
    open_one = parse_incident(row(), S)
    message = parent_message(open_one, _inbound_ctx(locale))
    assert [a for a, _ in _buttons(message)] == ["incident.post_update"]
    assert validate_blocks(message.blocks) == []
    resolved = parse_incident(row(status="Resolved"), S)
    assert _buttons(parent_message(resolved, _inbound_ctx(locale))) == []
    # Without inbound Slack nobody would hear a click: no buttons at all.
    assert _buttons(parent_message(open_one, _ctx(locale))) == []


@pytest.mark.parametrize(
    ("kind", "buttons"),
    [
        (
            "update_overdue",
            [
                ("incident.post_update", "Post update"),
                ("incident.snooze.30", "Snooze 30 min"),
                ("incident.snooze.60", "Snooze 1 h"),
            ],
        ),
        (
            "escalation",
            [
                ("incident.post_update", "Post update"),
                ("incident.snooze.30", "Snooze 30 min"),
                ("incident.snooze.60", "Snooze 1 h"),
            ],
        ),
        ("no_commander", [("incident.take_command", "I'll take command")]),
        ("commander_escalation", [("incident.take_command", "I'll take command")]),
        ("no_severity", []),
        ("postmortem_overdue", []),
    ],
)
def test_reminders_carry_the_buttons_that_answer_them(
    kind: NudgeKind, buttons: list[tuple[str, str]]
) -> None:
    incident = parse_incident(row(declared_at=T0), S)
    key = f"nudge:{incident.page_id}:{kind}"
    message = nudge_message(_nudge(kind, (BEN_PERSON,)), incident, _inbound_ctx(), key=key)
    assert _buttons(message) == buttons
    assert validate_blocks(message.blocks) == []
    assert fits(message.blocks, message.text)
    for block in message.blocks[1:]:
        for element in block["elements"]:
            assert json.loads(element["value"])["reminder"] == key


def test_a_status_update_posted_from_slack_credits_who_posted_it() -> None:
    incident = parse_incident(row(), S)
    ben = Person("slack:U0BEN", "Ben Carter", slack_id="U0BEN")
    payload = StatusUpdateReply(text="Rolled back", at=T0, actor=ben)
    message = reply_message(
        payload, incident, replace(_ctx(), mention=lambda p: f"<@{p.slack_id}>")
    )
    assert "Posted from Slack by <@U0BEN> · 2026-11-28 09:00 UTC" in repr(message.blocks[-1])


def test_a_snooze_is_said_in_the_thread() -> None:
    incident = parse_incident(row(), S)
    ben = Person("slack:U0BEN", "Ben Carter", slack_id="U0BEN")
    payload = SnoozedReply(by=ben, minutes=30, until=T0 + timedelta(minutes=30))
    ctx = replace(_ctx(), mention=lambda p: f"<@{p.slack_id}>")
    message = reply_message(payload, incident, ctx)
    assert message.text == (
        ":zzz: Status update reminders snoozed for 30 min by <@U0BEN> (until 2026-11-28 09:30 UTC)."
    )
    assert validate_blocks(message.blocks) == []
