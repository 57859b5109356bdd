"""Slack rendering: untrusted Notion text pings nobody, fits Slack's limits, reads well."""

from __future__ import annotations

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
    parent_message,
    reply_message,
    utf16_len,
)
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
