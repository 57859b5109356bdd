"""Templates: loading, Markdown escaping, helpers, bounds, and errors that name file and line."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.errors import TemplateError
from worker.pages.templates import (
    EM_DASH,
    Helpers,
    Limits,
    MarkdownSafe,
    TemplateSet,
    md_escape,
    oneline,
)
from worker.pages.to_blocks import markdown_to_blocks
from worker.snapshot import Person

TOKYO = ZoneInfo("Asia/Tokyo")
BEN = Person("33333333-3333-4333-8333-333333333333", "Ben Carter")
HOSTILE_TITLE = "# [click](http://evil) *x*"

Render = Callable[..., str]


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], None]:
    def write_file(name: str, source: str) -> None:
        path = tmp_path / "en" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")

    return write_file


@pytest.fixture
def render(tmp_path: Path, write: Callable[[str, str], None]) -> Render:
    """Write `source` as en/t.md.j2 and render it (with optional limits and context)."""

    def render_source(source: str, limits: Limits | None = None, **context: Any) -> str:
        write("t.md.j2", source)
        templates = TemplateSet.load(tmp_path, "en", timezone=TOKYO, limits=limits or Limits())
        return templates.render("t.md.j2", context)

    return render_source


def _error(render: Render, source: str, **context: Any) -> TemplateError:
    with pytest.raises(TemplateError) as caught:
        render(source, **context)
    return caught.value


def _plain(blocks: list[dict[str, Any]]) -> str:
    return "".join(
        item.get("plain_text") or item["text"]["content"]
        for block in blocks
        for item in block[block["type"]].get("rich_text", [])
    )


def _links(blocks: list[dict[str, Any]]) -> list[str]:
    return [
        item["text"]["link"]["url"]
        for block in blocks
        for item in block[block["type"]].get("rich_text", [])
        if item.get("type") == "text" and item["text"].get("link")
    ]


# --- escaping ---------------------------------------------------------------------------


def test_a_hostile_title_renders_as_literal_text(render: Render) -> None:
    output = render("{{ title }}", title=HOSTILE_TITLE)

    blocks = markdown_to_blocks(output)
    assert [block["type"] for block in blocks] == ["paragraph"]
    assert _plain(blocks) == HOSTILE_TITLE
    assert _links(blocks) == []
    assert not any(item.get("annotations") for item in blocks[0]["paragraph"]["rich_text"])


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("*bold* [x](http://evil)", r"\*bold\* \[x\](http://evil)"),
        ("# heading", r"\# heading"),
        ("- item\n+ item\n1. first\n2) second", "\\- item\n\\+ item\n1\\. first\n2\\) second"),
        ("title\n===\n---", "title\n\\===\n\\---"),
        ("  > quote\n    code", "\\> quote\ncode"),
        ("a | b", r"a \| b"),
        ("`code` ~~s~~ <b>", r"\`code\` \~\~s\~\~ \<b\>"),
        ("snake_case but _em_", r"snake_case but \_em\_"),
        ("&amp; & Q&A", r"\&amp; & Q&A"),
        ("C:\\path", "C:\\\\path"),
        ("wow!", "wow\\!"),
        ("v2.0 costs $5 (50%)", "v2.0 costs $5 (50%)"),
        ("3.5 h\n#hashtag\n2026. year", "3.5 h\n#hashtag\n2026\\. year"),
        ("windows\r\nline", "windows\nline"),
    ],
)
def test_md_escape(text: str, escaped: str) -> None:
    assert md_escape(text) == escaped


_MARKDOWN_ALPHABET = st.sampled_from([*"ab1 _*[]()!#<>-+=.|`~&;:/\\\n\t日🚀", "amp", "x"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_MARKDOWN_ALPHABET, max_size=40).map("".join))
def test_escaped_text_builds_no_markdown_structure(text: str) -> None:
    blocks = markdown_to_blocks(md_escape(text))

    assert {block["type"] for block in blocks} <= {"paragraph"}
    for block in blocks:
        for item in block["paragraph"]["rich_text"]:
            assert item["type"] == "text"
            assert not item["text"].get("link")
            assert not item.get("annotations")
    assert "".join(_plain(blocks).split()) == "".join(text.split())


def test_oneline_flattens_for_table_cells_and_keeps_trust() -> None:
    assert oneline("a\n\n b\tc ") == "a b c"
    assert isinstance(oneline(MarkdownSafe("**a**\nb")), MarkdownSafe)
    assert oneline(None) == EM_DASH


def test_md_safe_passes_trusted_markdown_and_concatenation_loses_trust(render: Render) -> None:
    output = render(
        "{{ x|md_safe }}|{{ x|safe }}|{{ mention(p) }}|{{ mention(p) ~ '' }}", x="**b**", p=BEN
    )

    assert output.split("|")[:3] == ["**b**", "**b**", f"[Ben Carter](notion-user:{BEN.id})"]
    assert output.split("|", 3)[3].startswith(r"\[Ben Carter\]")


def test_finalize_prints_none_times_durations_and_people(render: Render) -> None:
    output = render(
        "{{ nothing }}/{{ at }}/{{ took }}/{{ who }}/{{ crew }}",
        nothing=None,
        at=datetime(2026, 11, 28, 5, 5, tzinfo=UTC),
        took=timedelta(minutes=85),
        who=BEN,
        crew=(BEN, BEN),
    )

    mention = f"[Ben Carter](notion-user:{BEN.id})"
    assert output == f"—/2026-11-28 14:05 JST/1 h 25 min/{mention}/{mention}, {mention}"


# --- helpers ----------------------------------------------------------------------------

MOMENT = datetime(2026, 11, 28, 23, 5, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "style", "shown"),
    [
        ("UTC", "datetime", "2026-11-28 23:05 UTC"),
        ("Asia/Tokyo", "datetime", "2026-11-29 08:05 JST"),
        ("UTC", "time", "23:05"),
        ("Asia/Tokyo", "time", "08:05"),
        ("Asia/Tokyo", "date", "2026-11-29"),
        ("Asia/Tokyo", "iso", "2026-11-29T08:05+09:00"),
    ],
)
def test_when_in_the_configured_time_zone(zone: str, style: str, shown: str) -> None:
    assert Helpers("en", ZoneInfo(zone)).when(MOMENT, style) == shown


def test_when_takes_naive_times_as_utc_and_none_as_a_dash() -> None:
    helpers = Helpers("en", TOKYO)
    assert helpers.when(datetime(2026, 11, 28, 5, 5)) == "2026-11-28 14:05 JST"  # noqa: DTZ001
    assert helpers.when(None) == EM_DASH


@pytest.mark.parametrize(
    ("value", "en", "ja"),
    [
        (timedelta(hours=1, minutes=25, seconds=59), "1 h 25 min", "1時間25分"),
        (5100, "1 h 25 min", "1時間25分"),
        (45.9, "less than a minute", "1分未満"),
        (0, "less than a minute", "1分未満"),
        (timedelta(seconds=59.999), "less than a minute", "1分未満"),
        (60, "1 min", "1分"),
        (timedelta(seconds=-30), "less than a minute", "1分未満"),
        (timedelta(minutes=30), "30 min", "30分"),
        (timedelta(hours=2), "2 h", "2時間"),
        (timedelta(days=2, minutes=5), "2 d 5 min", "2日5分"),
        (timedelta(minutes=-5), "-5 min", "-5分"),
        (None, EM_DASH, EM_DASH),
    ],
)
def test_duration_in_each_locale(value: timedelta | float | None, en: str, ja: str) -> None:
    assert Helpers("en", UTC_ZONE).duration(value) == en
    assert Helpers("ja", UTC_ZONE).duration(value) == ja


UTC_ZONE = ZoneInfo("UTC")


def test_mention_escapes_the_name_and_needs_a_notion_id() -> None:
    helpers = Helpers("en", UTC_ZONE)
    hostile = Person(BEN.id, "](http://evil) *Mallory*")

    assert helpers.mention(hostile) == rf"[\](http://evil) \*Mallory\*](notion-user:{BEN.id})"
    assert helpers.mention(Person("not-an-id", "Ben")) == "Ben"
    assert helpers.mention(None) == EM_DASH
    assert helpers.mentions([], "nobody") == "nobody"
    assert Helpers("ja", UTC_ZONE).mentions([BEN, BEN]).count("、") == 1

    blocks = markdown_to_blocks(helpers.mention(hostile))
    items = blocks[0]["paragraph"]["rich_text"]
    assert [item["type"] for item in items] == ["mention"]
    assert items[0]["mention"] == {"user": {"id": BEN.id}}


@pytest.mark.parametrize(
    ("person", "shown"),
    [
        (BEN, f"[Ben Carter](notion-user:{BEN.id})"),
        (Person(BEN.id, email="ben@example.com"), f"[ben@example.com](notion-user:{BEN.id})"),
        # Notion refuses a mention of a bot, or of a user it does not show the integration
        # (tests/sandbox/test_notion_users.py): those are named in plain text.
        (Person(BEN.id, "Zapier", is_bot=True), "Zapier"),
        (Person(BEN.id), "Notion user"),
        (Person("not-an-id", "Ben"), "Ben"),
    ],
    ids=["person", "person-known-by-email", "bot", "unknown-user", "not-a-notion-id"],
)
def test_only_people_notion_showed_us_are_mentioned(person: Person, shown: str) -> None:
    assert Helpers("en", UTC_ZONE).mention(person) == shown


def test_quote_keeps_lines_and_escapes_them() -> None:
    quoted = Helpers("en", UTC_ZONE).quote("first\n\n# not a heading\n- not a list")

    assert quoted == "> first\n>\n> \\# not a heading\n> \\- not a list"
    blocks = markdown_to_blocks(quoted)
    assert [block["type"] for block in blocks] == ["quote"]
    assert Helpers("en", UTC_ZONE).quote("  ") == "> —"


def test_quoted_callout_marker_stays_a_quote() -> None:
    blocks = markdown_to_blocks(Helpers("en", UTC_ZONE).quote("[!WARNING] not an alert"))
    assert blocks[0]["type"] == "quote"


def test_link_only_for_http_urls_and_encodes_parentheses() -> None:
    helpers = Helpers("en", UTC_ZONE)

    assert helpers.link("a [b]", "https://x.test/p(1)<") == r"[a \[b\]](https://x.test/p%281%29%3C)"
    assert helpers.link("label", "https://x.test/with space") == "label"
    assert helpers.link("label", "javascript:alert(1)") == "label"
    assert helpers.link("label", None) == "label"


# --- errors name the file, the line and the cause --------------------------------------


@pytest.mark.parametrize(
    ("source", "line", "cause"),
    [
        ("ok\n{% if %}\n", 2, "syntax error: Expected an expression"),
        ("ok\n{% for x in y %}\n", 2, "syntax error: Unexpected end of template"),
        ("a\nb {{ missing_thing }}\n", 2, "undefined variable 'missing_thing'"),
        ("a\n\n{{ p.nickname }}", 3, "undefined attribute 'nickname' of Person"),
        ("{{ d.nope }}", 1, "undefined key or attribute 'nope'"),
        ("\n{{ ''.__class__ }}", 2, "not allowed in a template: access to attribute '__class__'"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", 1, "not allowed in a template"),
        ("{{ p.__init__.__globals__ }}", 1, "not allowed in a template"),
        ("{% set l = [1] %}\n{{ l.append(2) }}", 2, "not allowed in a template"),
        ("{{ d.update(a=1) }}", 1, "not allowed in a template"),
        ("x\n{{ 'a' * 10**9 }}", 2, "`*` would build a value of 1000000000"),
        ("{{ [0] * 10**8 }}", 1, "`*` would build"),
        ("{{ 10 ** 100000 }}", 1, "`**` would build a number"),
        ("{{ range(10**5)|list }}", 1, "range() of 100000 numbers"),
        ("{{ 'x'|center(10**9) }}", 1, "|center would build"),
        ("{{ 'x'.ljust(10**9) }}", 1, "ljust() would build"),
        ("{{ '%0999999999d' % 1 }}", 1, "a format width of 999999999"),
        ("{{ '%0999999999d'|format(1) }}", 1, "a format width of 999999999"),
        ("{{ '{:>999999999}'.format(1) }}", 1, "a format width of 999999999"),
        ("{% set s = 'x' * 100000 %}{{ s.replace('x', s) }}", 1, "replace() would build"),
        ("{% set s = 'x' * 100000 %}{{ s|replace('x', s) }}", 1, "replace() would build"),
        ("{% set s = 'x' * 100000 %}{{ (range(10000)|list)|join(s) }}", 1, "|join would build"),
        ("{{ [1]|batch(10**9, 'x')|list }}", 1, "batch or slice count"),
        (
            "{% set ns = namespace(s='x') %}\n{% for i in range(40) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            2,
            "`~` would build",
        ),
        (
            "{% include 'nowhere.md.j2' %}",
            1,
            "refers to 'nowhere.md.j2', which is not in the template folder",
        ),
        ("{% include 't.md.j2' %}", 1, "too deeply nested"),
        ("\n\n{{ 1 / 0 }}", 3, "ZeroDivisionError"),
        ("{{ when('yesterday') }}", 1, "when() takes a date and time"),
        ("{{ duration('long') }}", 1, "duration() takes seconds"),
        ("{{ lipsum(10**6) }}", 1, "undefined variable 'lipsum'"),
    ],
)
def test_every_failure_is_a_template_error_naming_file_and_line(
    render: Render, source: str, line: int, cause: str
) -> None:
    error = _error(render, source, p=BEN, d={"a": 1})

    assert error.template == "en/t.md.j2"
    assert error.line == line
    assert cause in error.problem
    assert str(error).startswith(f"template en/t.md.j2, line {line}: ")


def test_a_runaway_nested_loop_ends_quickly(render: Render) -> None:
    started = time.monotonic()
    first = _error(
        render,
        "{% for i in range(10**5) %}{% for j in range(10**5) %}{% endfor %}{% endfor %}",
    )
    second = _error(
        render,
        "{% for i in range(10**4) %}\n{% for j in range(10**4) %}{% endfor %}{% endfor %}",
    )
    elapsed = time.monotonic() - started

    assert "range() of 100000 numbers" in first.problem
    assert "loops ran more than 200000 times" in second.problem
    assert (second.template, second.line) == ("en/t.md.j2", 2)
    assert elapsed < 1.0


def test_the_deadline_stops_work_that_is_not_a_loop(render: Render) -> None:
    bomb = (
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}\n"
        "{{ f(40) }}"
    )
    started = time.monotonic()
    with pytest.raises(TemplateError) as caught:
        render(bomb, limits=Limits(render_seconds=0.2))

    assert time.monotonic() - started < 1.0
    assert "rendering took longer than 0.2 s" in caught.value.problem
    assert caught.value.line == 1


def test_huge_output_stops_at_the_cap_and_names_the_line(render: Render) -> None:
    source = "# Big\n{% for i in range(10000) %}\n{{ 'x' * 1000 }}\n{% endfor %}\n"
    error = _error(render, source)

    assert "the output is longer than 1000000 characters" in error.problem
    assert (error.template, error.line) == ("en/t.md.j2", 3)


def test_a_missing_template_file(tmp_path: Path, write: Callable[[str, str], None]) -> None:
    write("other.md.j2", "x")
    templates = TemplateSet.load(tmp_path, "en")

    with pytest.raises(TemplateError) as caught:
        templates.render("postmortem.md.j2", {})

    assert caught.value.template == "en/postmortem.md.j2"
    assert caught.value.line is None
    assert "no such template" in caught.value.problem


def test_a_missing_locale_folder(tmp_path: Path) -> None:
    with pytest.raises(TemplateError) as caught:
        TemplateSet.load(tmp_path, "ja")

    assert caught.value.template == "ja/"
    assert "TEMPLATES_DIR" in caught.value.problem


def test_a_locale_is_a_plain_folder_name(tmp_path: Path) -> None:
    with pytest.raises(TemplateError):
        TemplateSet.load(tmp_path, "../etc")


def test_includes_stay_inside_the_set_and_errors_name_the_included_file(
    tmp_path: Path, write: Callable[[str, str], None]
) -> None:
    write("parts/facts.md.j2", "ok\n{{ incident.nope }}\n")
    write("main.md.j2", "# Title\n{% include 'parts/facts.md.j2' %}\n")
    write("escape.md.j2", "{% include '../secret.md.j2' %}")
    templates = TemplateSet.load(tmp_path, "en")

    with pytest.raises(TemplateError) as caught:
        templates.render("main.md.j2", {"incident": {}})
    assert (caught.value.template, caught.value.line) == ("en/parts/facts.md.j2", 2)
    with pytest.raises(TemplateError) as outside:
        templates.render("escape.md.j2", {})
    assert "not in the template folder" in outside.value.problem
    assert templates.names() == ["escape.md.j2", "main.md.j2", "parts/facts.md.j2"]


def test_source_size_and_encoding_are_checked(
    tmp_path: Path, write: Callable[[str, str], None]
) -> None:
    write("big.md.j2", "x" * 2_000)
    (tmp_path / "en" / "latin.md.j2").write_bytes("caf\xe9".encode("latin-1"))
    templates = TemplateSet.load(tmp_path, "en", limits=Limits(max_source_bytes=1_000))

    with pytest.raises(TemplateError) as big:
        templates.render("big.md.j2", {})
    with pytest.raises(TemplateError) as latin:
        templates.render("latin.md.j2", {})

    assert big.value.template == "en/big.md.j2"
    assert "at most 1000 bytes" in big.value.problem
    assert "not UTF-8" in latin.value.problem


def test_an_edited_template_is_read_again(
    tmp_path: Path, write: Callable[[str, str], None]
) -> None:
    write("t.md.j2", "before")
    templates = TemplateSet.load(tmp_path, "en")
    assert templates.render("t.md.j2", {}) == "before"

    write("t.md.j2", "after")
    path = tmp_path / "en" / "t.md.j2"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))

    assert templates.render("t.md.j2", {}) == "after"


def test_legitimate_work_fits_the_bounds(render: Render) -> None:
    source = (
        "{% for i in range(300) %}- {{ i }} {{ (text ~ ' ') * 3 }}\n{% endfor %}"
        "{{ text|center(100) }} {{ '%05.1f'|format(3.14159) }} {{ '{:>8}'.format('x') }}"
    )
    output = render(source, text="é日🚀" * 100)

    assert output.count("\n- ") == 299
    assert "003.1" in output
