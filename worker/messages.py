"""Render: incidents and planned replies → Slack Block Kit messages, untrusted text made safe.

Every message fits Slack's limits by construction (see `slack_fit`): text is escaped and
quoted first, then cut to its budget with "… more in Notion" linking to the row.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

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
from worker.buttons_blocks import (
    SNOOZE_MINUTES,
    ButtonLabels,
    buttons_enabled,
    command_buttons,
    overdue_buttons,
    parent_buttons,
)
from worker.config import Settings, normalize_notion_id
from worker.slack_fit import (
    BLOCKS_TEXT_MAX,
    CONTEXT_TEXT_MAX,
    FIELD_MAX,
    FIELDS_MAX,
    HEADER_MAX,
    SECTION_MAX,
    TEXT_MAX,
    cut,
    fit_blocks,
    share,
    split,
    utf16_len,
)
from worker.snapshot import Incident, Person, Value

VALUE_MAX = 600  # one value inside a change line; the whole reply still fits a section
LABEL_MAX = 100  # a property's name as a label
NAME_MAX = 200  # one person's name where a mention cannot be made
PEOPLE_MAX = 1000  # the people a reminder or a postmortem notice mentions
ERROR_MAX = 1500  # an error quoted in a problem reply
# A status update reply shows a normal structured update whole, in up to two sections;
# longer ones are cut with a link to the row.
UPDATE_REPLY_MAX = 2 * SECTION_MAX
PLAIN_MAX = 1500  # the plain version posted when Slack refuses a message for good

# Every "@here…" is broken, not only whole words: a cut can end "@herea" as "@here…", which
# Slack would read as the word.
_BROADCAST_WORDS = re.compile(r"@(channel|here|everyone)", re.IGNORECASE)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

MentionFn = Callable[[Person], str]


def escape(text: str) -> str:
    """Make Notion text inert in Slack: escape the three control characters (ampersand
    first) and break the bare broadcast words, so nothing typed in Notion can ping anyone.
    A lone surrogate (which Slack cannot decode) becomes U+FFFD."""
    text = _LONE_SURROGATE.sub("\ufffd", text)
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST_WORDS.sub(lambda m: "@\u2060" + m.group(1), escaped)


def escape_truncated(text: str, limit: int, suffix: str = "…") -> str:
    """Escape `text` and cut it so the escaped result plus `suffix` fits `limit`."""
    return cut(escape(text), limit, suffix)


LONG_URL = 200


def link(url: str, label: str) -> str:
    """A mrkdwn link; the URL's own control characters are percent-encoded. A Notion URL
    made long by its title's slug is shortened to the page id (the same page)."""
    if len(url) > LONG_URL:
        url = _short_notion_url(url)
    safe_url = quote(url, safe=":/?#[]@!$&'()*+,;=%-._~")
    return f"<{safe_url.replace('|', '%7C')}|{escape(label)}>"


def _short_notion_url(url: str) -> str:
    try:
        page_id = normalize_notion_id(url)
    except ValueError:
        return url
    return "https://www.notion.so/" + page_id.replace("-", "")


def format_time(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


@dataclass(frozen=True)
class Wording:
    """The words of the Slack messages, from templates/<locale>/slack.toml."""

    labels: Mapping[str, str]
    phrases: Mapping[str, str]

    @classmethod
    def load(cls, templates_dir: Path, locale: str) -> Wording:
        path = templates_dir / locale / "slack.toml"
        with path.open("rb") as handle:
            data = tomllib.load(handle)
        return cls(labels=dict(data.get("labels", {})), phrases=dict(data.get("phrases", {})))

    def label(self, key: str) -> str:
        return self.labels.get(key, key.replace("_", " ").capitalize())

    def phrase(self, key: str, **values: str) -> str:
        return Template(self.phrases.get(key, key)).safe_substitute(values)


@dataclass(frozen=True)
class SlackMessage:
    text: str
    blocks: list[dict[str, Any]]


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(text)]}


def _finished(text: str, blocks: list[dict[str, Any]]) -> SlackMessage:
    """The message as built, held to every limit once more (the last line of defence)."""
    return SlackMessage(text=cut(text, TEXT_MAX), blocks=fit_blocks(blocks))


def _more(incident: Incident, words: Wording) -> str:
    """How cut text ends: "… more in Notion", linking to the row where there is one."""
    if not incident.url:
        return "…"
    return "… " + link(incident.url, words.phrase("more_in_notion"))


def people_text(
    people: tuple[Person, ...], mention: MentionFn, nobody: str, limit: int = VALUE_MAX
) -> str:
    """Mentions joined by commas, as many as fit in `limit`, then "… (+N)"."""
    if not people:
        return cut(escape(nobody), limit)
    texts = [mention(person) for person in people]
    shown: list[str] = []
    used = 0
    for index, text in enumerate(texts):
        left = len(texts) - index - 1
        more = f" … (+{left})" if left else ""
        size = utf16_len(text) + (2 if shown else 0)
        if used + size + utf16_len(more) > limit:
            break
        shown.append(text)
        used += size
    hidden = len(texts) - len(shown)
    if not hidden:
        return ", ".join(shown)
    if not shown:  # not even the first fits: a long name, cut
        return cut(texts[0], limit, f"… (+{hidden - 1})" if hidden > 1 else "…")
    return ", ".join(shown) + f" … (+{hidden})"


def value_text(
    value: Value, mention: MentionFn, empty: str, limit: int = VALUE_MAX, tail: str = "…"
) -> str:
    if value.is_people:
        return people_text(value.people, mention, empty, limit)
    if not value.text:
        return cut(escape(empty), limit)
    return cut(escape(value.text), limit, tail)


def _label_for(key: str, settings: Settings, words: Wording) -> str:
    if key.startswith("prop:"):
        return key[5:]
    return words.labels.get(key) or settings.properties[key]


@dataclass(frozen=True)
class RenderContext:
    settings: Settings
    words: Wording
    mention: MentionFn


# A part of a message whose length is budgeted: its text cut to at most that many units.
Render = Callable[[int], str]


def _budgeted(parts: list[tuple[Render, int]], budget: int) -> list[str]:
    """Each part in full (up to its own cap) when all fit in `budget`; otherwise the longest
    share what is left equally."""
    wanted = [utf16_len(render(cap)) for render, cap in parts]
    allowed = share(wanted, budget)
    return [render(min(cap, given)) for (render, cap), given in zip(parts, allowed, strict=True)]


def _labelled(label: str, value: Render) -> Render:
    """`*Label*` over a value, the value cut to what the label leaves."""
    head = f"*{cut(escape(label), LABEL_MAX)}*\n"
    return lambda limit: cut(head + value(limit - utf16_len(head)), limit)


def parent_message(incident: Incident, ctx: RenderContext) -> SlackMessage:
    """The thread's parent: always the current state of the incident."""
    words = ctx.words
    title = incident.title or words.label("untitled")
    severity = incident.severity or words.label("empty")
    status = incident.status or words.label("empty")
    header = escape_truncated(f"{severity} · {title}", HEADER_MAX)
    fallback = words.phrase("fallback", severity=severity, title=title, status=status)
    links = cut(_links(incident, words), CONTEXT_TEXT_MAX)
    fields = _parent_fields(incident, ctx)
    sections = _parent_sections(incident, words)
    buttons = _parent_buttons(incident, ctx)
    budget = BLOCKS_TEXT_MAX - utf16_len(header) - utf16_len(links) - _buttons_text(buttons)
    parts = [(field, FIELD_MAX) for field in fields]
    parts += [(section, SECTION_MAX) for section in sections]
    texts = _budgeted(parts, budget)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {"type": "section", "fields": [_mrkdwn(text) for text in texts[: len(fields)]]},
        *(_section(text) for text in texts[len(fields) :]),
        _context(links),
        *buttons,
    ]
    return _finished(escape_truncated(fallback, TEXT_MAX), blocks)


def button_labels(words: Wording, locale: str) -> ButtonLabels:
    """The words on the buttons and the Post update modal, from the wording file."""
    defaults = ButtonLabels()
    snooze = {
        minutes: Template(words.phrases.get("button_snooze", "Snooze $duration")).safe_substitute(
            duration=human_duration(minutes * 60.0, locale)
        )
        for minutes in SNOOZE_MINUTES
    }

    def label(key: str, default: str) -> str:
        # A wording file written before the buttons existed: their English words.
        return words.labels.get(key) or default

    return ButtonLabels(
        post_update=label("button_post_update", defaults.post_update),
        snooze=snooze,
        take_command=label("button_take_command", defaults.take_command),
        modal_title=label("modal_title", defaults.modal_title),
        modal_submit=label("modal_submit", defaults.modal_submit),
        modal_close=label("modal_close", defaults.modal_close),
        modal_label=label("modal_label", defaults.modal_label),
        modal_placeholder=label("modal_placeholder", defaults.modal_placeholder),
    )


def _parent_buttons(incident: Incident, ctx: RenderContext) -> list[dict[str, Any]]:
    """Post update, while the incident is open and inbound Slack is configured."""
    settings = ctx.settings
    if not buttons_enabled(settings) or incident.in_trash:
        return []
    if incident.status in settings.resolved_statuses:
        return []
    return [parent_buttons(incident.page_id, button_labels(ctx.words, settings.locale))]


def _buttons_text(blocks: list[dict[str, Any]]) -> int:
    """The characters of the buttons' labels (Slack counts them in a message's total)."""
    return sum(
        utf16_len(element["text"]["text"]) for block in blocks for element in block["elements"]
    )


def _parent_sections(incident: Incident, words: Wording) -> list[Render]:
    """Impact and the latest status update, each cut to its share with a link to the row."""
    more = _more(incident, words)
    sections: list[Render] = []
    if incident.impact:
        impact = escape(incident.impact)
        sections.append(_labelled(words.label("impact"), lambda n: cut(impact, n, more)))
    if incident.status_update:
        update = _quote(escape(incident.status_update))
        sections.append(_labelled(words.label("latest_update"), lambda n: cut(update, n, more)))
    return sections


def _quote(text: str) -> str:
    return "\n".join(f"&gt; {line}" if line else "&gt;" for line in text.split("\n"))


def _parent_fields(incident: Incident, ctx: RenderContext) -> list[Render]:
    words, mention, tz = ctx.words, ctx.mention, ctx.settings.timezone
    empty, nobody = words.label("empty"), words.label("nobody")

    def plain(text: str) -> Render:
        escaped = escape(text)
        return lambda n: cut(escaped, n)

    def who(people: tuple[Person, ...]) -> Render:
        return lambda n: people_text(people, mention, nobody, n)

    pairs = [
        ("status", plain(incident.status or empty)),
        ("severity", plain(incident.severity or empty)),
        ("commander", who(incident.commander)),
        ("scribe", who(incident.scribe)),
        (
            "declared_at",
            plain(format_time(incident.declared_at, tz) if incident.declared_at else empty),
        ),
        ("customer_comms", plain(incident.customer_comms or empty)),
    ]
    if incident.next_update_due is not None:
        pairs.append(("next_update_due", plain(format_time(incident.next_update_due, tz))))
    fields = [_labelled(words.label(key), value) for key, value in pairs]
    more = _more(incident, words)
    for key, mirrored in incident.mirrored:
        if key.startswith("prop:") and len(fields) < FIELDS_MAX:
            fields.append(_labelled(key[5:], _mirrored_value(mirrored, ctx, more)))
    return fields


def _mirrored_value(value: Value, ctx: RenderContext, more: str) -> Render:
    empty = ctx.words.label("empty")
    return lambda n: value_text(value, ctx.mention, empty, n, more)


def _links(incident: Incident, words: Wording) -> str:
    parts = []
    if incident.url:
        parts.append(link(incident.url, words.label("notion_row")))
    if incident.timeline_url:
        parts.append(link(incident.timeline_url, words.label("timeline")))
    if incident.postmortem_url:
        parts.append(link(incident.postmortem_url, words.label("postmortem")))
    return " · ".join(parts) or escape(words.label("empty"))


def _byline(
    payload: ChangesReply | StatusUpdateReply, ctx: RenderContext, named: str, anonymous: str
) -> str:
    """When, and who edited the row last. Notion names only a row's last editor, so several
    people's edits between two polls cannot be told apart: the byline says no more than
    that, and a message sent to the whole channel names nobody."""
    when = escape(format_time(payload.at, ctx.settings.timezone))
    actor = payload.actor
    broadcast = isinstance(payload, ChangesReply) and payload.broadcast
    if actor is None or broadcast:
        return ctx.words.phrase(anonymous, time=when)
    if actor.slack_id and f"{named}_from_slack" in ctx.words.phrases:
        # Done from Slack (a button, a modal): the worker wrote it in Notion in their name.
        return ctx.words.phrase(f"{named}_from_slack", actor=_name(ctx, actor), time=when)
    return ctx.words.phrase(named, actor=_name(ctx, actor), time=when)


def _name(ctx: RenderContext, person: Person) -> str:
    """A mention, or a name cut to NAME_MAX where Slack does not know the person."""
    return cut(ctx.mention(person), NAME_MAX)


def reply_message(payload: Reply, incident: Incident, ctx: RenderContext) -> SlackMessage:
    """A thread reply from a planned action's payload."""
    match payload:
        case ChangesReply():
            return _changes(payload, incident, ctx)
        case StatusUpdateReply():
            return _status_update(payload, incident, ctx)
        case PostmortemReply():
            return _one_section(_postmortem_ready(payload, incident, ctx))
        case ProblemReply():
            what = ctx.words.phrase(f"what_{payload.what}")
            error = escape_truncated(payload.error, ERROR_MAX)
            return _one_section(ctx.words.phrase("problem", what=escape(what), error=error))
        case RefusedReply():
            return refused_notice(incident, ctx.words, payload.error)
        case SnoozedReply():
            return _one_section(_snoozed(payload, ctx))
        case _:
            return _one_section(_notice(payload, ctx))


def _notice(
    payload: TrashedReply | LinksRestoredReply | PageTrashedReply | ValueProblemReply,
    ctx: RenderContext,
) -> str:
    """A short notice in the thread about the row or the worker's pages."""
    words = ctx.words
    match payload:
        case TrashedReply():
            return words.phrase("trashed")
        case LinksRestoredReply():
            names = [f"*{escape(ctx.settings.properties[key])}*" for key in payload.keys]
            return words.phrase("links_restored", properties=", ".join(names))
        case PageTrashedReply():
            return words.phrase("page_trashed", what=escape(words.label(payload.what)))
        case ValueProblemReply():
            return words.phrase("value_problem", problem=escape_truncated(payload.problem, 2000))


def _snoozed(payload: SnoozedReply, ctx: RenderContext) -> str:
    settings = ctx.settings
    phrase = ctx.words.phrases.get(
        "snoozed", ":zzz: Status update reminders snoozed for $duration by $actor (until $until)."
    )
    return Template(phrase).safe_substitute(
        duration=escape(human_duration(payload.minutes * 60.0, settings.locale)),
        actor=_name(ctx, payload.by),
        until=escape(format_time(payload.until, settings.timezone)),
    )


def _one_section(text: str) -> SlackMessage:
    return _finished(text, [_section(cut(text, SECTION_MAX))])


def _postmortem_ready(payload: PostmortemReply, incident: Incident, ctx: RenderContext) -> str:
    words = ctx.words
    page = link(payload.url, words.label("postmortem"))
    people = incident.commander or incident.scribe
    values = {"postmortem": page, "people": _mentions(people, ctx)}
    variant = "" if people else "_unassigned"
    if payload.due is not None:
        values["due"] = escape(format_time(payload.due, ctx.settings.timezone))
        return _phrase_for(words, "postmortem_ready", variant, values)
    return _phrase_for(words, "postmortem_ready_no_due", variant, values)


def _changes(payload: ChangesReply, incident: Incident, ctx: RenderContext) -> SlackMessage:
    words = ctx.words
    lines = [words.phrase(flag) for flag in payload.flags]
    if payload.escalated_to:
        severity = escape_truncated(payload.escalated_to, LABEL_MAX)
        lines.insert(0, words.phrase("escalated", severity=severity))
    empty = words.label("empty")
    for change in payload.changes:
        label = escape_truncated(_label_for(change.key, ctx.settings, words), LABEL_MAX)
        old = value_text(change.old, ctx.mention, empty)
        new = value_text(change.new, ctx.mention, empty)
        lines.append(f"*{label}:* {old} → {new}")
    body = cut("\n".join(lines) or escape(empty), SECTION_MAX, _more(incident, words))
    byline = cut(_byline(payload, ctx, "changed_by", "changed_anonymously"), CONTEXT_TEXT_MAX)
    return _finished(body, [_section(body), _context(byline)])


def _status_update(
    payload: StatusUpdateReply, incident: Incident, ctx: RenderContext
) -> SlackMessage:
    """The update quoted whole when it is a normal one (up to two sections); longer ones are
    cut, the quote marks counted, with a link to the row."""
    words = ctx.words
    heading = f":mega: *{escape(words.phrase('status_update'))}*\n"
    byline = cut(_byline(payload, ctx, "update_by", "update_anonymously"), CONTEXT_TEXT_MAX)
    budget = min(UPDATE_REPLY_MAX, BLOCKS_TEXT_MAX - utf16_len(byline))
    body = cut(heading + _quote(escape(payload.text)), budget, _more(incident, words))
    blocks = [*(_section(part) for part in split(body, SECTION_MAX)), _context(byline)]
    fallback = escape_truncated(f"{words.phrase('status_update')}: {payload.text}", TEXT_MAX)
    return _finished(fallback, blocks)


def plain_message(message: SlackMessage, incident: Incident, words: Wording) -> SlackMessage:
    """The same message as short plain text with no blocks, ending with a link to the row:
    what is posted when Slack refuses the built message for good."""
    body = cut(message.text, PLAIN_MAX) or escape(words.label("untitled"))
    if incident.url:
        body += "\n" + link(incident.url, words.phrase("more_in_notion"))
    return SlackMessage(text=body, blocks=[])


def refused_notice(incident: Incident, words: Wording, error: str) -> SlackMessage:
    """One short notice, in plain text: a message could not be posted, and where to read it."""
    # The row's address by its id alone: its usual one carries the title, which may be the
    # very text Slack refused.
    row = (
        link(_short_notion_url(incident.url), words.label("notion_row"))
        if incident.url
        else "Notion"
    )
    code = escape_truncated(error, LABEL_MAX)
    return SlackMessage(text=words.phrase("message_refused", error=code, row=row), blocks=[])


def human_duration(seconds: float, locale: str) -> str:
    """12 min, 1 h 5 min, 3 d 2 h — or 12分, 1時間5分, 3日2時間 in Japanese; rounded to the
    minute, and "less than a minute" (1分未満) below that: never "0 s"."""
    if seconds < 59.5:
        return "1分未満" if locale == "ja" else "less than a minute"
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    units = ("日", "時間", "分") if locale == "ja" else (" d", " h", " min")
    parts = [f"{n}{u}" for n, u in zip((days, hours, mins), units, strict=True) if n]
    if days:
        parts = parts[:2]
    return ("" if locale == "ja" else " ").join(parts)


def group_mention(escalate_to: str) -> str:
    """The configured escalation target as Slack syntax (trusted: it comes from settings)."""
    if escalate_to in ("channel", "here"):
        return f"<!{escalate_to}>"
    return f"<!subteam^{escalate_to}>"


_NUDGE_PHRASES: Mapping[str, str] = {
    "update_overdue": "nudge_overdue",
    "escalation": "nudge_escalation",
    "no_commander": "nudge_no_commander",
    "commander_escalation": "nudge_commander_escalation",
    "no_severity": "nudge_no_severity",
    "postmortem_overdue": "nudge_postmortem",
}
_ALWAYS_TO_THE_GROUP = frozenset({"escalation", "commander_escalation"})
# The property each reminder asks people to fill in (`$field`).
_NUDGE_FIELDS: Mapping[str, str] = {
    "update_overdue": "status_update",
    "escalation": "status_update",
    "no_commander": "commander",
    "commander_escalation": "commander",
    "no_severity": "severity",
}


def nudge_message(
    payload: PostNudge, incident: Incident, ctx: RenderContext, *, key: str = ""
) -> SlackMessage:
    """A reminder in the thread: overdue update, escalation, no commander or severity,
    postmortem. Worded for who it calls: the people named, else the escalation group, else
    nobody (each a phrase of its own, so no sentence is left waiting for a name). With
    inbound Slack, the buttons that answer it (`key`: the reminder's own, which they name)."""
    words = ctx.words
    people = payload.mention
    kind = payload.kind
    group = payload.mention_group
    if kind in _ALWAYS_TO_THE_GROUP:
        group = group or ctx.settings.escalate_to  # queued before payloads carried the group
    phrase = _NUDGE_PHRASES[kind]
    if kind == "update_overdue" and payload.first:
        phrase = "nudge_first_overdue"
    variant = "" if people else "_group" if group else "_unassigned"
    values = _nudge_values(payload, incident, ctx)
    values["people"] = _mentions(people, ctx)
    values["group"] = group_mention(str(group or ctx.settings.escalate_to))
    field = _NUDGE_FIELDS.get(kind)
    values["field"] = escape(ctx.settings.properties[field]) if field else ""
    message = _one_section(_phrase_for(words, phrase, variant, values))
    buttons = _nudge_buttons(payload, incident, ctx, key)
    if buttons is None:
        return message
    return _finished(message.text, [*message.blocks, buttons])


def _nudge_buttons(
    payload: PostNudge, incident: Incident, ctx: RenderContext, key: str
) -> dict[str, Any] | None:
    if not key or not buttons_enabled(ctx.settings):
        return None
    labels = button_labels(ctx.words, ctx.settings.locale)
    if payload.kind in ("update_overdue", "escalation"):
        return overdue_buttons(incident.page_id, key, labels)
    if payload.kind in ("no_commander", "commander_escalation"):
        return command_buttons(incident.page_id, key, labels)
    return None


def _mentions(people: tuple[Person, ...], ctx: RenderContext) -> str:
    """The people a reminder or notice calls, as many as fit PEOPLE_MAX ("" for nobody)."""
    return people_text(people, ctx.mention, "", PEOPLE_MAX) if people else ""


def _phrase_for(words: Wording, key: str, variant: str, values: dict[str, str]) -> str:
    """The phrase for who is called: `key` + `_group` (the group, nobody assigned), else
    `key` + `_unassigned` (nobody at all), else the plain `key` (wording files written
    before the variants name nobody their own way, with `nobody_to_mention`)."""
    for candidate in {"_group": ("_group", "_unassigned"), "_unassigned": ("_unassigned",)}.get(
        variant, ()
    ):
        if key + candidate in words.phrases:
            return words.phrase(key + candidate, **values)
    if not values.get("people"):
        values = {**values, "people": escape(words.phrases.get("nobody_to_mention", ""))}
    return words.phrase(key, **values)


def _nudge_values(payload: PostNudge, incident: Incident, ctx: RenderContext) -> dict[str, str]:
    words, settings = ctx.words, ctx.settings
    locale = settings.locale
    last = payload.last_update_at
    overdue = payload.overdue_by_s
    start = incident.declared_at or incident.created_time
    if payload.kind == "postmortem_overdue" and incident.resolved_at is not None:
        start = incident.resolved_at
    postmortem = (
        link(incident.postmortem_url, words.label("postmortem"))
        if incident.postmortem_url
        else escape(words.label("postmortem"))
    )
    return {
        "row": link(incident.url, "Notion") if incident.url else "Notion",
        "overdue": escape(human_duration(overdue, locale)),
        "last": escape(format_time(last, settings.timezone)),
        "silence": escape(human_duration(overdue + _cadence_s(payload), locale)),
        "count": str(settings.escalate_after_nudges),
        "commander_field": escape(settings.properties["commander"]),
        # Since the resolution (postmortem) or the declaration (a missing commander).
        "age": escape(human_duration(_since(payload, start), locale)),
        "postmortem": postmortem,
    }


def _since(payload: PostNudge, start: datetime) -> float:
    """Seconds from `start` to when the nudge was found due (its due time + how late)."""
    overdue = payload.overdue_by_s
    elapsed = (payload.due_at - start).total_seconds() + overdue
    return elapsed if elapsed >= 0 else overdue


def _cadence_s(payload: PostNudge) -> float:
    return (payload.due_at - payload.last_update_at).total_seconds()


def notice_message(payload: PostNotice, ctx: RenderContext) -> SlackMessage:
    """A top-level notice about the worker itself, in no incident's thread (say, that the
    Incidents database no longer fits the settings): its wording, then the problems, each
    on its line, cut so that the whole fits one section."""
    phrase = f"notice_{payload.type}"
    # With several databases, which one: its name first, on a line of its own.
    heading = f"*{escape(payload.database)}*\n" if payload.database else ""
    frame = heading + ctx.words.phrase(phrase, problems="")
    lines = "\n".join(f"• {escape(p)}" for p in payload.problems)
    problems = cut(lines, SECTION_MAX - utf16_len(frame) - 2) if lines else ""
    return _one_section(heading + ctx.words.phrase(phrase, problems=problems))
