"""A thread message's timeline entry: one bullet, read like the worker's other entries, that
Notion takes whatever the message says."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.pages.note_entry import (
    ENTRY_TYPE,
    MAX_FILES,
    fingerprint,
    message_time,
    note_block,
    note_rich_text,
)
from worker.pages.to_markdown import blocks_to_markdown
from worker.sandbox.notion.richtext import parse_rich_text
from worker.snapshot import Person
from worker.thread_notes import EntryState, NoteFile, SlackPerson, ThreadNote

ANN = Person("9f3c2b1a-0d4e-4f5a-8b6c-7d8e9f0a1b2c", "Ann Lee", "ann@example.com")
PEOPLE = {"ann@example.com": ANN}
TS = "1764668580.000200"  # 2025-12-02 09:43:00 UTC
NOTE = ThreadNote(
    page_id="aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
    channel="C0INCIDENTS",
    ts=TS,
    thread_ts="1764667000.000100",
    text="Failover *done*, ask <@U02BOB>",
    user="U01ANN",
    people={
        "U01ANN": SlackPerson("Ann", "Ann@Example.com"),
        "U02BOB": SlackPerson("Bob", "bob@elsewhere.example"),
    },
)
LINK = "https://x.slack.com/archives/C0INCIDENTS/p1764668580000200?thread_ts=1764667000.000100"
UTC_ZONE = ZoneInfo("UTC")


def markdown(note: ThreadNote, state: EntryState = "shown", **kwargs: Any) -> str:
    options: dict[str, Any] = {
        "people": PEOPLE,
        "timezone": UTC_ZONE,
        "day_of": message_time(TS),
        "permalink": LINK,
    } | kwargs
    return blocks_to_markdown([note_block(note_rich_text(note, state, **options))])


def test_the_entry_shows_when_who_what_and_where() -> None:
    assert markdown(NOTE) == (
        f"- **09:43** — [@Ann Lee](notion-user:{ANN.id}): Failover **done**, ask @Bob · "
        f"[Slack]({LINK})\n"
    )


def test_someone_notion_does_not_know_is_named() -> None:
    entry = markdown(NOTE, people={})
    assert entry.startswith("- **09:43** — Ann: Failover")


def test_a_message_of_another_day_shows_its_date_in_the_time_zone() -> None:
    entry = markdown(
        NOTE, timezone=ZoneInfo("Asia/Tokyo"), day_of=datetime(2025, 12, 1, 9, tzinfo=UTC)
    )
    assert entry.startswith("- **2025-12-02 18:43 JST** — ")


def test_files_are_links_and_the_rest_are_counted() -> None:
    files = tuple(NoteFile(f"graph-{n}.png", f"https://x.slack.com/files/F{n}") for n in range(7))
    entry = markdown(ThreadNote(**{**NOTE.__dict__, "files": files}))
    assert "[graph-0.png](https://x.slack.com/files/F0)" in entry
    assert f"graph-{MAX_FILES}.png" not in entry
    assert "(+2)" in entry


def test_withdrawn_the_whole_entry_is_struck_through() -> None:
    rich_text = note_rich_text(
        NOTE, "struck", people=PEOPLE, timezone=UTC_ZONE, day_of=None, permalink=LINK
    )
    assert all(item["annotations"]["strikethrough"] for item in rich_text)
    assert fingerprint(rich_text) != fingerprint(
        note_rich_text(NOTE, "shown", people=PEOPLE, timezone=UTC_ZONE, day_of=None, permalink=LINK)
    )


def test_the_block_is_one_bullet() -> None:
    block = note_block([{"type": "text", "text": {"content": "x"}}])
    assert block == {ENTRY_TYPE: {"rich_text": [{"type": "text", "text": {"content": "x"}}]}} | {
        "type": ENTRY_TYPE
    }


class _Workspace:
    def mention_user(self, user_id: str) -> dict[str, Any] | None:
        return (
            {"object": "user", "id": user_id, "type": "person", "name": ANN.name}
            if (user_id == ANN.id)
            else None
        )

    def mention_target(self, kind: str, object_id: str) -> tuple[str, str]:
        raise AssertionError(f"no {kind} mentions: {object_id}")


_TEXT = st.text(max_size=3000) | st.lists(
    st.sampled_from(
        ["*b*", "_i_", "<@U01ANN>", "<https://a.example|x>", "\n", "🔥" * 900, ":fire:"]
    ),
    max_size=300,
).map("".join)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=_TEXT,
    name=st.text(max_size=3000),
    files=st.lists(st.tuples(st.text(max_size=400), st.text(max_size=60)), max_size=9),
    state=st.sampled_from(["shown", "struck"]),
    permalink=st.none() | st.text(max_size=80) | st.just(LINK),
)
def test_whatever_the_message_notion_takes_the_entry(
    text: str, name: str, files: list[tuple[str, str]], state: EntryState, permalink: str | None
) -> None:
    note = ThreadNote(
        **{
            **NOTE.__dict__,
            "text": text,
            "people": {"U01ANN": SlackPerson(name, None)},
            "files": tuple(NoteFile(n, "https://f.example/" + u) for n, u in files),
        }
    )
    rich_text = note_rich_text(
        note,
        state,
        people=PEOPLE,
        timezone=UTC_ZONE,
        day_of=None,
        permalink=permalink,  # type: ignore[arg-type]
    )
    assert len(rich_text) <= 100
    parse_rich_text(rich_text, "bulleted_list_item.rich_text", _Workspace())
