"""Bad input, pure level: each gets a clear error or a defined behaviour (issue 6, items 6-7).

Settings that are missing or malformed, rows with odd content (100 people, long texts,
right-to-left and Japanese text, mention injection), and secrets in reprs, errors and log
lines. Slack's own block validator and ping parser (from the sandbox) are the oracles.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk import WebClient

from tests.factories import AIKO, BEN, T0, rich, row, settings
from worker import logs
from worker.actions import ChangesReply, PostNudge, ProblemReply, StatusUpdateReply
from worker.config import BUNDLED_TEMPLATES, Settings
from worker.diff import Change
from worker.errors import ConfigError, ServiceError
from worker.messages import (
    HEADER_MAX,
    RenderContext,
    SlackMessage,
    Wording,
    nudge_message,
    parent_message,
    reply_message,
    utf16_len,
)
from worker.pages.context import TimelineEntry, timeline_entry_markdown
from worker.pages.limits import MAX_TEXT_UTF16, enforce_limits
from worker.pages.to_blocks import markdown_to_blocks
from worker.plan import plan_row
from worker.record import IncidentRecord
from worker.sandbox.slack.blocks import validate_blocks
from worker.sandbox.slack.pings import message_pings
from worker.slack import SlackGateway
from worker.snapshot import Incident, Person, Value, carry_unreadable, parse_incident

S = settings()
WORDS = Wording.load(BUNDLED_TEMPLATES, "en")
NOTION_TOKEN = "ntn_" + "N0t10nS3cr3t" * 4
SLACK_TOKEN = "xoxb-111-222-" + "Sl4ckS3cr3t" * 3
DB_PASSWORD = "hunter2-Pa55w0rd"
DATABASE_URL = f"postgresql://worker:{DB_PASSWORD}@db.internal:5432/incidents"

# --- helpers --------------------------------------------------------------------------------


def _slack_gateway(s: Settings = S) -> SlackGateway:
    # People without an email never reach the network: their name is shown, escaped.
    return SlackGateway(WebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/api/"), s)


def _ids_mention(person: Person) -> str:
    """Everyone has a Slack account: a proper mention."""
    return f"<@U{person.id[:8].upper()}>"


def _ctx(mention: Any = None) -> RenderContext:
    return RenderContext(S, WORDS, mention or _slack_gateway().mention)


def _problems(message: SlackMessage) -> list[str]:
    """What Slack would refuse in this message: its blocks, and the text's 40,000 limit."""
    problems = validate_blocks(message.blocks)
    if len(message.text) > 40_000:
        problems.append("text longer than 40,000 characters")
    return problems


def _pings(message: SlackMessage) -> set[str]:
    return message_pings(message.text, message.blocks, None, parse_names=False)


def _all_text(message: SlackMessage) -> str:
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


# --- settings: every problem named, with an example, all at once ----------------------------

# (variable, a malformed value). Each must come back as one problem naming the variable
# with an example of a good value.
MALFORMED = [
    ("NOTION_TOKEN", "secret-without-the-prefix"),
    ("SLACK_BOT_TOKEN", "xoxp-a-user-token"),
    ("NOTION_INCIDENTS_DATABASE_ID", "Incidents"),
    ("SLACK_CHANNEL_ID", "#incidents"),
    ("DATABASE_URL", "state.db"),
    ("NOTION_BASE_URL", "api.notion.com"),
    ("SLACK_BASE_URL", "slack.com/api"),
    ("POLL_INTERVAL", "15"),
    ("POLL_OVERLAP", "a minute"),
    ("TEMPLATES_DIR", "/no/such/templates/dir"),
    ("LOCALE", "fr"),
    ("TIMEZONE", "Mars/Olympus_Mons"),
    ("POSTMORTEM_DATABASE_ID", "Postmortems"),
    ("LOG_FORMAT", "xml"),
    ("PORT", "99999"),
    ("NOTION_REQUESTS_PER_SECOND", "-3"),
    ("NOTION_TIMEOUT", "30"),
    ("SLACK_TIMEOUT", "0s"),
    ("DECLARE_GRACE", "two minutes"),
    ("NOTION_PROPERTY_NAMES", "Stat=State"),
    ("MIRRORED_PROPERTIES", "Name,Slack thread"),
    ("BROADCAST_RESOLVED", "maybe"),
    ("UPDATE_CADENCE", "SEV1:15m"),
    ("NAG_INTERVAL", "1"),
    ("MITIGATED_CADENCE_FACTOR", "double"),
    ("ESCALATE_AFTER_NUDGES", "0"),
    ("ESCALATE_TO", "@oncall"),
    ("COMMANDER_GRACE", "5 minutes"),
    ("SEVERITY_GRACE", "five"),
    ("POSTMORTEM_DUE", "5"),
    ("POSTMORTEM_REMINDER_AFTER", "-1d"),
    ("QUIET_HOURS", "22-08"),
    ("WORKING_HOURS", "9:00-25:00"),
]


@pytest.mark.parametrize(("variable", "value"), MALFORMED)
def test_a_malformed_setting_names_the_variable_with_an_example(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(**{variable: value})
    problems = [p for p in caught.value.problems if p.variable == variable]
    assert len(problems) == 1, caught.value.problems
    assert problems[0].example, f"{variable}: no example of a good value"
    assert f"for example {variable}=" in str(caught.value)


def test_every_malformed_setting_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(dict(MALFORMED))
    reported = {p.variable for p in caught.value.problems}
    assert reported == {variable for variable, _ in MALFORMED}
    text = str(caught.value)
    assert f"{len(caught.value.problems)} problem(s)" in text
    assert text.count("\n  - ") == len(caught.value.problems)  # one line each


def test_missing_required_settings_are_reported_together_with_examples() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"POLL_INTERVAL": "15"})
    variables = {p.variable for p in caught.value.problems}
    assert variables == {
        "NOTION_TOKEN",
        "SLACK_BOT_TOKEN",
        "NOTION_INCIDENTS_DATABASE_ID",
        "SLACK_CHANNEL_ID",
        "POLL_INTERVAL",
    }
    assert all(p.example for p in caught.value.problems)


@pytest.mark.parametrize(
    "variable",
    [
        "NOTION_INCIDENTS_DATABASE_ID",
        "POSTMORTEM_DATABASE_ID",
        "SLACK_CHANNEL_ID",
    ],
)
@pytest.mark.parametrize("token", [NOTION_TOKEN, SLACK_TOKEN])
def test_a_token_pasted_into_an_id_setting_is_not_echoed(variable: str, token: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(**{variable: token})
    assert variable in str(caught.value)
    assert token not in str(caught.value)
    assert token not in repr(caught.value.problems)


@pytest.mark.parametrize(
    "url",
    [
        "state.db",
        f"postgres ql://worker:{DB_PASSWORD}@db/incidents",
        f"postgresql://worker:{DB_PASSWORD}@db:notaport/incidents",
        f"mysql://worker:{DB_PASSWORD}@db/incidents",
        "https://example.com/state",
    ],
)
def test_an_unusable_database_url_is_a_setting_problem(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(DATABASE_URL=url)
    assert [p.variable for p in caught.value.problems] == ["DATABASE_URL"]
    assert "for example DATABASE_URL=" in str(caught.value)
    assert DB_PASSWORD not in str(caught.value)


# --- rows with missing or retyped properties -----------------------------------------------


def test_a_row_with_missing_and_retyped_properties_still_parses() -> None:
    raw = row(
        impact="irrelevant",
        drop=("Severity", "Commander"),
        extra={"Impact": {"id": "im", "type": "number", "number": 3}},
    )
    incident = parse_incident(raw, S)
    assert incident.title == "Checkout down"
    assert incident.status == "Investigating"  # the other properties are read as usual
    assert incident.severity is None
    assert incident.commander == ()
    assert incident.impact == ""
    problems = "; ".join(incident.problems)
    assert "'Severity' is missing" in problems
    assert "'Commander' is missing" in problems
    assert "'Impact' is a number property; the worker needs rich_text" in problems


def test_an_unknown_status_value_is_named_and_the_last_known_one_stands_in() -> None:
    """A status the settings do not list ("Escalating to vendor", "Closed") could mean
    resolved or not: the worker does not guess. It names the value (and how to make it
    known), and goes on with the last status it knew — no "Investigating → …" reply."""
    record = IncidentRecord(
        page_id=row()["id"], snapshot=parse_incident(row(), S), phase="announced", thread_ts="1.2"
    )
    raw = parse_incident(row(status="Escalating to vendor", edited=T0 + timedelta(minutes=1)), S)
    (problem,) = raw.value_problems
    assert "“Escalating to vendor”" in problem
    assert "STATUS_OPTIONS" in problem
    assert "RESOLVED_STATUSES" in problem
    new = carry_unreadable(record.snapshot, raw)
    assert new.status == "Investigating"
    plan = plan_row(record, new, S, actor=None, now=T0 + timedelta(minutes=2), first_run=False)
    assert [a.kind for a in plan.actions] == []


# --- empty titles --------------------------------------------------------------------------


@pytest.mark.parametrize("title", ["", "   ", "\n\t"])
def test_an_untitled_row_waits_for_the_grace_period_then_is_announced_as_untitled(
    title: str,
) -> None:
    s = settings(DECLARE_GRACE="10m")
    incident = parse_incident(row(title=title), s)
    assert incident.title == ""
    # The grace runs from when the worker first saw the row (creation times are rounded).
    early = plan_row(None, incident, s, actor=None, now=T0 + timedelta(minutes=1), first_run=False)
    assert early.actions == ()
    assert early.record.phase == "waiting"
    still = plan_row(
        early.record, incident, s, actor=None, now=T0 + timedelta(minutes=10), first_run=False
    )
    assert still.actions == ()
    late = plan_row(
        early.record, incident, s, actor=None, now=T0 + timedelta(minutes=11), first_run=False
    )
    assert "post_parent" in [a.kind for a in late.actions]
    message = parent_message(incident, _ctx())
    assert message.blocks[0]["text"]["text"] == "SEV2 · Untitled incident"
    assert _problems(message) == []


# --- a row with 100 people -----------------------------------------------------------------


def test_100_people_with_slack_accounts_fit_the_parent_message() -> None:
    people = _people(100, email=True)
    incident = parse_incident(_with_people(row(), "Commander", people), S)
    assert len(incident.commander) == 100
    message = parent_message(incident, _ctx(_ids_mention))
    assert _problems(message) == []
    assert len(_pings(message)) == 100  # exactly the commanders


def test_100_people_without_slack_accounts_fit_the_parent_message() -> None:
    people = _people(100, "Responder number {i:03d}")
    incident = parse_incident(_with_people(row(), "Commander", people), S)
    message = parent_message(incident, _ctx())
    assert _problems(message) == []  # today: invalid_blocks, the incident is never announced
    assert "Responder number 000" in _all_text(message)


def test_a_change_to_100_people_names_the_first_of_them() -> None:
    people = [Person(**p) for p in _people(100, "Responder {i:03d} Example-Longname")]
    incident = parse_incident(row(), S)
    payload = _changes_payload("commander", _value(people=[]), _value(people=people))
    message = reply_message(payload, incident, _ctx())
    assert _problems(message) == []
    assert "Responder 000 Example-Longname" in message.blocks[0]["text"]["text"]


# --- texts over 2,000 characters -----------------------------------------------------------


def test_long_texts_are_cut_to_slacks_limits_with_a_link_to_notion() -> None:
    long = "".join(f"word{i:05d} " for i in range(800))  # 8,000 characters
    incident = parse_incident(row(title=long[:3000], impact=long, status_update=long), S)
    message = parent_message(incident, _ctx())
    assert _problems(message) == []
    assert utf16_len(message.blocks[0]["text"]["text"]) <= HEADER_MAX
    text = _all_text(message)
    assert "word00000" in text
    assert "word00799" not in text
    assert "more in Notion" in text
    update = StatusUpdateReply(text=long, at=T0)
    reply = reply_message(update, incident, _ctx())
    assert _problems(reply) == []
    # Quoted over two sections at most; the last one ends with the link.
    assert len(reply.blocks) == 3
    assert "more in Notion" in reply.blocks[-2]["text"]["text"]


def test_a_long_custom_property_change_fits_one_reply() -> None:
    incident = parse_incident(row(), S)
    payload = _changes_payload("prop:Root cause", _value("short"), _value("x" * 7000))
    message = reply_message(payload, incident, _ctx())
    assert _problems(message) == []
    assert "*Root cause:* short → xxx" in message.blocks[0]["text"]["text"]


def test_a_long_timeline_entry_is_split_within_notions_limits() -> None:
    text = "".join(f"update {i:04d}; " for i in range(500))  # 6,500 characters
    entry = TimelineEntry(at=T0, kind="status_update", text=text, actor=None)
    blocks = enforce_limits(markdown_to_blocks(timeline_entry_markdown(entry, S, day_of=T0)))
    items = [item for block in blocks for item in block[block["type"]].get("rich_text", [])]
    assert all(utf16_len(i["text"]["content"]) <= MAX_TEXT_UTF16 for i in items)
    assert text.rstrip() in "".join(i["text"]["content"] for i in items)


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
    message = parent_message(incident, _ctx())
    assert _problems(message) == []
    assert message.blocks[0]["text"]["text"] == f"SEV2 · {text}"
    assert text in message.blocks[2]["text"]["text"]  # Impact
    update = StatusUpdateReply(text=text, at=T0)
    assert text in reply_message(update, incident, _ctx()).blocks[0]["text"]["text"]


@pytest.mark.parametrize("symbol", ["🔥", "👩🏽‍💻", "ع", "日"])
def test_a_header_full_of_wide_characters_is_cut_on_a_character(symbol: str) -> None:
    incident = parse_incident(row(title=symbol * 200), S)
    header = parent_message(incident, _ctx()).blocks[0]["text"]["text"]
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
    ctx = _ctx()
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


def _control_free(text: str) -> bool:
    return message_pings(text, None, None, parse_names=True) == set()


def test_a_person_named_like_a_mention_is_shown_as_text() -> None:
    gateway = _slack_gateway()
    shown = gateway.mention(EVIL_PERSON)
    assert _control_free(shown)
    assert gateway.requests == 0  # no email: no lookup


def test_injected_notion_mentions_stay_text_in_the_timeline() -> None:
    text = f"[Ben](notion-user:{BEN['id']}) <@U0000000000> @here"
    actor = Person(id=AIKO["id"], name=f"[Ben](notion-user:{BEN['id']})")
    entry = TimelineEntry(at=T0, kind="status_update", text=text, actor=actor)
    blocks = markdown_to_blocks(timeline_entry_markdown(entry, S, day_of=T0))
    mentions = [
        item["mention"]["user"]["id"]
        for block in blocks
        for item in block[block["type"]].get("rich_text", [])
        if item.get("type") == "mention"
    ]
    assert mentions == [AIKO["id"]]  # only the actor, by id; nobody named in the text


# --- secrets: never in repr, str, errors or log lines --------------------------------------


def _secret_settings() -> Settings:
    return settings(
        NOTION_TOKEN=NOTION_TOKEN, SLACK_BOT_TOKEN=SLACK_TOKEN, DATABASE_URL=DATABASE_URL
    )


SECRETS = (NOTION_TOKEN, SLACK_TOKEN, DB_PASSWORD)


def _leaks(text: str) -> list[str]:
    return [secret[:12] + "…" for secret in SECRETS if secret in text]


def test_settings_never_show_their_secrets() -> None:
    s = _secret_settings()
    shown = [
        repr(s),
        str(s),
        f"{s}",
        "%s %r" % (s, s),  # noqa: UP031 - the old formatting must not show them either
        repr(dataclasses.asdict(s)),
        repr(s.notion_token),
        f"{s.slack_bot_token}",
        str(s.database_url),
    ]
    assert _leaks("\n".join(shown)) == []
    assert s.notion_token.reveal() == NOTION_TOKEN  # the value is still there to use


def test_a_misplaced_token_is_never_echoed_by_a_setting_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"NOTION_TOKEN": SLACK_TOKEN, "SLACK_BOT_TOKEN": NOTION_TOKEN})
    assert _leaks(str(caught.value) + repr(caught.value.problems)) == []


def _raise(error: Exception) -> None:
    raise error


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_log_lines_mask_every_secret(log_format: str, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    s = _secret_settings()
    logs.configure(
        log_format, (s.notion_token.reveal(), s.slack_bot_token.reveal(), s.database_url.reveal())
    )
    log = logging.getLogger("worker.test_bad_input")
    log.warning("token %s and url %s", NOTION_TOKEN, DATABASE_URL)
    log.error("slack said no to %s", SLACK_TOKEN)
    for error in (
        ServiceError("notion", "users.me", f"echoed {NOTION_TOKEN} back"),
        ValueError(f"cannot open {DATABASE_URL}"),
    ):
        try:
            _raise(error)
        except (ServiceError, ValueError):
            log.exception("call failed")
    output = stream.getvalue()
    assert output.count("***") >= 5
    assert _leaks(output) == []
    if log_format == "json":
        entries = [json.loads(line) for line in output.splitlines()]
        assert [e["level"] for e in entries] == ["warning", "error", "error", "error"]


@pytest.mark.usefixtures("restore_logging")
def test_a_database_password_alone_is_masked_in_log_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Libraries print the URL rebuilt (another driver name, the password apart), never the
    # exact DATABASE_URL string; the password must be masked on its own as well.
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    s = _secret_settings()
    logs.configure("json", (s.notion_token.reveal(), s.database_url.reveal()))
    logging.getLogger("worker.test_bad_input").error(
        "could not connect to postgresql+psycopg://worker:%s@db.internal/incidents", DB_PASSWORD
    )
    assert _leaks(stream.getvalue()) == []
