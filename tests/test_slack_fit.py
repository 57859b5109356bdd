"""Slack's limits: text cut without breaking markup, budgets shared, blocks fitted."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.sandbox.slack.blocks import blocks_text_length, validate_blocks
from worker.slack_fit import (
    BLOCKS_TEXT_MAX,
    SECTION_MAX,
    cut,
    fit_blocks,
    fits,
    share,
    split,
    utf16_len,
)

LINK = "<https://www.notion.so/abc|more in Notion>"


@pytest.mark.parametrize(
    ("text", "limit", "tail", "expected"),
    [
        ("short", 10, "…", "short"),
        ("exactly ten", 11, "…", "exactly ten"),
        ("a &amp; b", 6, "…", "a…"),  # never "a &am…"
        ("x <@U123> y", 8, "…", "x…"),  # never "x <@U1…"
        (f"see {LINK} now", 20, "…", "see…"),
        ("🚒🚒🚒", 5, "…", "🚒🚒…"),  # an emoji is two units here
        ("👩🏽‍💻👩🏽‍💻", 10, "…", "👩🏽‍💻…"),  # a joined emoji is one piece
        ("🇯🇵🇯🇵", 6, "…", "🇯🇵…"),  # so is a flag
        ("line one\nline two\nline three", 22, "…", "line one\nline two…"),
        ("word after word after word", 20, "…", "word after word…"),
        ("```code that goes on and on```", 20, "…", "```code that\n```…"),
        ("anything", 0, "…", ""),
        ("anything long", 3, f"… {LINK}", "an…"),  # a tail longer than the limit: "…"
    ],
)
def test_cut(text: str, limit: int, tail: str, expected: str) -> None:
    assert cut(text, limit, tail) == expected
    assert utf16_len(cut(text, limit, tail)) <= max(0, limit)


@pytest.mark.parametrize(
    ("wanted", "total", "given"),
    [
        ([10, 20], 100, [10, 20]),  # everything fits: each gets what it wants
        ([10, 1000, 1000], 510, [10, 250, 250]),  # the long ones share what is left
        ([3000, 100, 2000], 1000, [450, 100, 450]),
        ([], 100, []),
        ([5, 5], 0, [0, 0]),
    ],
)
def test_share(wanted: list[int], total: int, given: list[int]) -> None:
    assert share(wanted, total) == given


def test_split_breaks_at_lines_and_never_leaves_an_empty_piece() -> None:
    text = "\n".join(f"line {i:03d} " + "x" * 40 for i in range(100))

    pieces = split(text, SECTION_MAX)

    assert len(pieces) == 2
    assert all(utf16_len(p) <= SECTION_MAX for p in pieces)
    assert "\n".join(pieces) == text
    assert split("a\n\n\n", 2) == ["a"]


def test_split_drops_a_link_longer_than_a_piece_rather_than_break_it() -> None:
    text = "before\n<https://example.com/" + "x" * 50 + "|label>\nafter"

    assert split(text, 20) == ["before", "…", "after"]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def test_fit_holds_every_limit_of_blocks_built_carelessly() -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 400, "emoji": True}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": "&amp;" * 700} for _ in range(12)],
        },
        *(_section("s &lt; " * 900) for _ in range(60)),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11},
        _section("   "),
    ]

    fitted = fit_blocks(blocks)

    assert validate_blocks(fitted) == []
    assert len(fitted) == 50
    assert blocks_text_length(fitted) <= BLOCKS_TEXT_MAX
    assert fits(fitted, "text")
    assert all(not re.search(r"&(?!amp;|lt;|gt;)", t) for t in _texts(fitted))


def test_fit_leaves_blocks_that_fit_as_they_are() -> None:
    blocks = [_section("fine"), {"type": "divider"}]

    assert fit_blocks(blocks) == blocks
    assert fit_blocks(blocks) is not blocks


def _texts(blocks: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            found.append(block["text"]["text"])
        found += [item["text"] for item in block.get("fields", []) + block.get("elements", [])]
    return found


# --- properties -----------------------------------------------------------------------------

PIECES = ["&amp;", "&lt;", "&gt;", "<@U12345>", LINK, "\n", " ", "日本", "🚒", "👩🏽‍💻", "🇯🇵"]
PIECES += ["```", "*bold*"]
# Escaped text: `<`, `>` and `&` only in the control sequences the worker writes.
plain = st.text(alphabet=st.characters(exclude_characters="<>&"), max_size=3)
mrkdwn = st.lists(st.sampled_from(PIECES) | plain, max_size=60).map("".join)
_ATOMS = re.compile(r"&(?:amp|lt|gt);|<@U12345>|" + re.escape(LINK))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(text=mrkdwn, limit=st.integers(0, 200), tail=st.sampled_from(["…", f"… {LINK}"]))
def test_a_cut_fits_and_keeps_every_entity_mention_and_link_whole(
    text: str, limit: int, tail: str
) -> None:
    result = cut(text, limit, tail)

    assert utf16_len(result) <= limit
    if utf16_len(text) <= limit:
        assert result == text
    kept = result.removesuffix(tail).removesuffix("…").removesuffix("\n```")
    assert text.startswith(kept)
    # Every control sequence in what was kept is whole: none was split by the cut.
    leftover = _ATOMS.sub("", kept)
    assert "<" not in leftover
    assert ">" not in leftover
    assert not re.search(r"&(?:a|am|amp|l|lt|g|gt)?$", leftover)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(text=mrkdwn, limit=st.integers(2, 300))
def test_split_pieces_fit_and_are_never_empty(text: str, limit: int) -> None:
    pieces = split(text, limit)

    assert all(utf16_len(p) <= limit for p in pieces)
    assert all(p.strip() for p in pieces)


@given(wanted=st.lists(st.integers(0, 5000), max_size=20), total=st.integers(0, 20000))
def test_shares_never_exceed_the_total_nor_what_each_wants(wanted: list[int], total: int) -> None:
    given = share(wanted, total)

    assert sum(given) <= total
    assert all(0 <= g <= w for g, w in zip(given, wanted, strict=True))
    if sum(wanted) <= total:
        assert given == wanted


def test_split_skips_blanks_before_a_piece_too_long_to_show() -> None:
    assert split("ab" + " " * 10 + "<https://x.y/zzzz|l>", 5) == ["ab", "…"]
