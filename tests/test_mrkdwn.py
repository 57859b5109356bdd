"""Slack mrkdwn → Notion rich text: what people see in the timeline, and always valid for Notion."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.mrkdwn import Names, item_text, to_plain_text, to_rich_text
from worker.pages.limits import utf16_len
from worker.sandbox.notion.richtext import parse_rich_text

NOTION_ANN = "9f3c2b1a-0d4e-4f5a-8b6c-7d8e9f0a1b2c"
NAMES = Names(
    users={"U01ANN": "Ann", "U02BOB": "Bob"},
    channels={"C01OPS": "ops"},
    groups={"S01ONCALL": "oncall"},
    people={"U01ANN": NOTION_ANN},
)


def text(content: str, *marks: str, url: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"content": content}
    if url is not None:
        body["link"] = {"url": url}
    item: dict[str, Any] = {"type": "text", "text": body}
    if marks:
        item["annotations"] = {mark: True for mark in sorted(marks)}
    return item


def ann(*marks: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "mention",
        "mention": {"type": "user", "user": {"id": NOTION_ANN}},
        "plain_text": "@Ann",
    }
    if marks:
        item["annotations"] = {mark: True for mark in sorted(marks)}
    return item


@pytest.mark.parametrize(
    ("mrkdwn", "expected"),
    [
        pytest.param("plain words", [text("plain words")], id="plain text stays as it is"),
        pytest.param("", [], id="no text, no items"),
        pytest.param(
            "the *db* is _slow_ and ~fine~",
            [
                text("the "),
                text("db", "bold"),
                text(" is "),
                text("slow", "italic"),
                text(" and "),
                text("fine", "strikethrough"),
            ],
            id="bold italic strike",
        ),
        pytest.param("*_both_*", [text("both", "bold", "italic")], id="nested emphasis combines"),
        pytest.param(
            "run `SELECT *` now",
            [text("run "), text("SELECT *", "code"), text(" now")],
            id="inline code holds no emphasis",
        ),
        pytest.param(
            "```line *one*\nline <@U02BOB>```after",
            [text("line *one*\nline @Bob", "code"), text("after")],
            id="preformatted spans lines, shows mentions as names",
        ),
        pytest.param(
            "see <https://status.example.com/x?a=1&amp;b=2|the status page>",
            [text("see "), text("the status page", url="https://status.example.com/x?a=1&b=2")],
            id="a labelled link, its ampersand unescaped",
        ),
        pytest.param(
            "<https://example.com>",
            [text("https://example.com", url="https://example.com")],
            id="a bare link shows its URL",
        ),
        pytest.param(
            "<mailto:ann@example.com|ann@example.com>",
            [text("ann@example.com", url="mailto:ann@example.com")],
            id="mail links stay links",
        ),
        pytest.param(
            "<javascript:alert(1)|click>", [text("click")], id="a URL Notion refuses: text only"
        ),
        pytest.param(
            "ping <@U01ANN> and <@U02BOB>",
            [text("ping "), ann(), text(" and @Bob")],
            id="a Notion person is mentioned, others named",
        ),
        pytest.param(
            "<@U09NEW|newcomer> joined <#C01OPS> and <#C02X|random>",
            [text("@newcomer joined #ops and #random")],
            id="labels Slack sent stand in for names not known",
        ),
        pytest.param("<@U09NEW>", [text("@U09NEW")], id="an unknown user keeps its id"),
        pytest.param(
            "<!here> <!channel> <!everyone> <!subteam^S01ONCALL> <!subteam^S02X|@dba>",
            [text("@here @channel @everyone @oncall @dba")],
            id="special mentions as Slack shows them",
        ),
        pytest.param(
            "<!date^1392734382^{date_num}|2014-02-18>", [text("2014-02-18")], id="date fallback"
        ),
        pytest.param(
            "a &lt;b&gt; &amp;amp; c", [text("a <b> &amp; c")], id="entities decoded once"
        ),
        pytest.param(
            ":pushpin: :+1::skin-tone-3: :man-facepalming: :partyparrot:",
            [text("📌 👍🏼 🤦\u200d♂️ :partyparrot:")],
            id="emoji shortcodes, skin tones, custom emoji kept",
        ),
        pytest.param("12:30:45 UTC", [text("12:30:45 UTC")], id="times are not emoji"),
        pytest.param(
            "snake_case_name and 2*3*4 and *unclosed",
            [text("snake_case_name and 2*3*4 and *unclosed")],
            id="markers inside words or unclosed stay",
        ),
        pytest.param(
            "*bold\nacross lines*", [text("*bold\nacross lines*")], id="emphasis ends at a line"
        ),
        pytest.param(
            "*<@U01ANN> is on it*",
            [ann("bold"), text(" is on it", "bold")],
            id="a mention inside emphasis keeps it",
        ),
        pytest.param(
            "&gt; quoted\nreply", [text("> quoted\nreply")], id="a quote reads as written"
        ),
    ],
)
def test_to_rich_text(mrkdwn: str, expected: list[dict[str, Any]]) -> None:
    assert to_rich_text(mrkdwn, NAMES) == expected


def test_plain_text_reads_like_slack() -> None:
    assert to_plain_text("*Deploy* <https://x.io|done> by <@U01ANN> :tada:", NAMES) == (
        "Deploy done by @Ann 🎉"
    )


def test_a_long_message_is_cut_into_items_of_notions_size() -> None:
    long = "🔥" * 1500 + "x" * 3000  # 6,000 UTF-16 units
    items = to_rich_text(long)
    assert [utf16_len(item_text(i)) for i in items] == [2000, 2000, 2000]
    assert "".join(item_text(i) for i in items) == long


def test_more_looks_than_items_keep_every_word_as_plain_text() -> None:
    mrkdwn = " ".join(f"*w{n}*" for n in range(150))
    items = to_rich_text(mrkdwn, max_items=100)
    assert len(items) == 100
    assert "".join(item_text(i) for i in items) == to_plain_text(mrkdwn)
    assert items[0] == text("w0", "bold")
    assert "annotations" not in items[-1]


def test_beyond_every_budget_the_end_is_cut_with_an_ellipsis() -> None:
    items = to_rich_text("y" * 9000, max_items=3)
    assert [utf16_len(item_text(i)) for i in items] == [2000, 2000, 2000]
    assert item_text(items[-1]).endswith("…")


def test_a_budget_below_one_item_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="max_items"):
        to_rich_text("x", max_items=0)


# --- valid for Notion, whatever the text (hypothesis) -------------------------------------


class _Workspace:
    """The sandbox's view of who can be mentioned: Ann only."""

    def mention_user(self, user_id: str) -> dict[str, Any] | None:
        return (
            {"object": "user", "id": user_id, "type": "person", "name": "Ann"}
            if (user_id == NOTION_ANN)
            else None
        )

    def mention_target(self, kind: str, object_id: str) -> tuple[str, str]:
        raise AssertionError(f"no {kind} mentions expected: {object_id}")


_PIECES = st.sampled_from(
    [
        "*",
        "_",
        "~",
        "`",
        "```",
        "<",
        ">",
        "|",
        "&amp;",
        "&lt;",
        "&gt;",
        "&",
        ":",
        "\n",
        " ",
        "<@U01ANN>",
        "<@U02BOB|bob>",
        "<#C01OPS>",
        "<!here>",
        "<!subteam^S1|@x>",
        "<https://a.example/p?q=1|label>",
        "<http://",
        "<mailto:",
        ":fire:",
        ":skin-tone-2:",
        "::skin-tone-4:",
        "\ud83d",
        "🔥",
        "e\u0301",
        "x" * 700,
    ]
)
_MRKDWN = st.lists(st.one_of(_PIECES, st.text(max_size=40)), max_size=60).map("".join)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mrkdwn=_MRKDWN, max_items=st.integers(min_value=1, max_value=100))
def test_any_text_is_rich_text_notion_takes(mrkdwn: str, max_items: int) -> None:
    items = to_rich_text(mrkdwn, NAMES, max_items=max_items)
    assert len(items) <= max_items
    parsed = parse_rich_text(items, "rich_text", _Workspace())  # raises if Notion would refuse
    assert all(item["plain_text"] for item in parsed)  # no empty items


@settings(max_examples=200)
@given(
    words=st.text(
        alphabet=st.characters(exclude_characters="*_~`<>&:", exclude_categories=("Cs",)),
        max_size=300,
    )
)
def test_text_without_markup_reads_the_same(words: str) -> None:
    assert "".join(item_text(i) for i in to_rich_text(words)) == words


@settings(max_examples=200)
@given(mrkdwn=_MRKDWN)
def test_what_fits_loses_no_words(mrkdwn: str) -> None:
    """Within the budget, the items read exactly as the plain text (lone surrogates aside)."""
    items = to_rich_text(mrkdwn, NAMES, max_items=10_000)
    shown = "".join(item_text(i) for i in items)
    assert shown == _cleaned(to_plain_text(mrkdwn, NAMES))


def _cleaned(text: str) -> str:
    from worker.pages.limits import split_utf16

    return "".join(split_utf16(text)) if text else ""
