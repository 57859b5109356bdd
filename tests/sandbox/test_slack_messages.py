"""Slack emulator: posting, threads, reading back, editing, deleting, as slack-sdk sees them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from tests.sandbox.slack_reference import SlackHarness, error_of, serve_slack
from worker.sandbox.slack.content import entity_problems

TS = re.compile(r"\d{10}\.\d{6}")
# slack-sdk warns when a message has no top-level text; some tests send none on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:The top-level `text` argument:UserWarning")


@pytest.fixture
def slack() -> Iterator[SlackHarness]:
    with serve_slack() as harness:
        harness.bot.conversations_join(channel=harness.channel)
        yield harness


def test_a_parent_and_its_replies_read_back_in_order(slack: SlackHarness) -> None:
    parent = slack.post("SEV2: checkout errors")
    replies = [
        slack.post("status → Identified", thread_ts=parent["ts"]),
        slack.person(1).chat_postMessage(
            channel=slack.channel, text="on it", thread_ts=parent["ts"]
        ),
        slack.post("status → Monitoring", thread_ts=parent["ts"]),
    ]

    thread = slack.bot.conversations_replies(channel=slack.channel, ts=parent["ts"])["messages"]

    assert [m["text"] for m in thread] == [
        "SEV2: checkout errors",
        "status → Identified",
        "on it",
        "status → Monitoring",
    ]
    head = thread[0]
    assert head["thread_ts"] == parent["ts"]
    assert head["reply_count"] == 3
    assert head["reply_users"] == [slack.workspace.slack_bot_user_id, slack.person_id(1)]
    assert head["reply_users_count"] == 2
    assert head["latest_reply"] == replies[-1]["ts"]
    for reply in thread[1:]:
        assert reply["thread_ts"] == parent["ts"]
        assert reply["parent_user_id"] == slack.workspace.slack_bot_user_id
    assert slack.emulator.thread(slack.channel, parent["ts"]) == thread


def test_post_answers_with_the_stored_message(slack: SlackHarness) -> None:
    posted = slack.post("hello")
    reply = slack.post("re", thread_ts=posted["ts"])

    assert posted["channel"] == slack.channel
    message = posted["message"]
    assert message["ts"] == posted["ts"]
    assert message["user"] == slack.workspace.slack_bot_user_id
    assert message["bot_id"] == slack.workspace.slack_bot_id
    assert message["app_id"] == slack.workspace.slack_app_id
    assert message["bot_profile"]["name"] == slack.workspace.slack_bot_name
    assert reply["message"]["thread_ts"] == posted["ts"]
    assert reply["message"]["parent_user_id"] == slack.workspace.slack_bot_user_id


def test_ts_values_are_unique_increasing_and_slack_shaped(slack: SlackHarness) -> None:
    stamps = [slack.post(str(i))["ts"] for i in range(25)]

    assert all(TS.fullmatch(ts) for ts in stamps)
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


def test_history_is_newest_first_and_holds_top_level_messages_and_broadcasts(
    slack: SlackHarness,
) -> None:
    first = slack.post("first")
    slack.post("quiet reply", thread_ts=first["ts"])
    loud = slack.bot.chat_postMessage(
        channel=slack.channel, text="resolved", thread_ts=first["ts"], reply_broadcast=True
    )
    slack.post("second")

    history = slack.bot.conversations_history(channel=slack.channel)

    assert [m["text"] for m in history["messages"]] == ["second", "resolved", "first"]
    broadcast = history["messages"][1]
    assert broadcast["ts"] == loud["ts"]
    assert broadcast["subtype"] == "thread_broadcast"
    assert broadcast["thread_ts"] == first["ts"]
    assert broadcast["root"]["reply_count"] == 2
    assert history["has_more"] is False
    assert history["response_metadata"]["next_cursor"] == ""
    thread = slack.bot.conversations_replies(channel=slack.channel, ts=first["ts"])["messages"]
    assert [m["text"] for m in thread] == ["first", "quiet reply", "resolved"]
    assert thread[2]["subtype"] == "thread_broadcast"
    assert [m["text"] for m in slack.emulator.channel_messages(slack.channel)] == [
        "first",
        "resolved",
        "second",
    ]


def test_history_and_replies_page_through_every_message_with_sdk_iteration(
    slack: SlackHarness,
) -> None:
    parent = slack.post("parent")["ts"]
    for i in range(6):
        slack.post(f"reply {i}", thread_ts=parent)
    for i in range(4):
        slack.post(f"top {i}")

    # A SlackResponse iterates by replacing its own data with the next page's.
    history = slack.bot.conversations_history(channel=slack.channel, limit=2)
    history_pages = [dict(page.data) for page in history]
    replies = slack.bot.conversations_replies(channel=slack.channel, ts=parent, limit=3)
    reply_pages = [dict(page.data) for page in replies]

    assert [len(p["messages"]) for p in history_pages] == [2, 2, 1]
    assert [m["text"] for p in history_pages for m in p["messages"]] == [
        "top 3",
        "top 2",
        "top 1",
        "top 0",
        "parent",
    ]
    assert [p["has_more"] for p in history_pages] == [True, True, False]
    assert history_pages[-1]["response_metadata"]["next_cursor"] == ""
    texts = [m["text"] for p in reply_pages for m in p["messages"]]
    assert texts == ["parent"] + [f"reply {i}" for i in range(6)]
    assert [len(p["messages"]) for p in reply_pages] == [3, 3, 1]


def test_a_garbage_cursor_is_invalid_cursor(slack: SlackHarness) -> None:
    slack.post("x")

    def history_from(cursor: str) -> object:
        return slack.bot.conversations_history(channel=slack.channel, cursor=cursor)

    for cursor in ("garbage", "dGVhbTpDMQ==", "bmV4dF90czp4eXo="):
        assert error_of(partial(history_from, cursor)) == "invalid_cursor"


def test_a_cursor_survives_the_deletion_of_its_message(slack: SlackHarness) -> None:
    stamps = [slack.post(str(i))["ts"] for i in range(4)]
    first = slack.bot.conversations_history(channel=slack.channel, limit=2)
    slack.bot.chat_delete(channel=slack.channel, ts=stamps[1])

    rest = slack.bot.conversations_history(
        channel=slack.channel, limit=2, cursor=first["response_metadata"]["next_cursor"]
    )

    assert [m["text"] for m in rest["messages"]] == ["0"]


def test_oldest_latest_and_inclusive_bound_history(slack: SlackHarness) -> None:
    stamps = [slack.post(str(i))["ts"] for i in range(5)]

    def texts(**bounds: Any) -> list[str]:
        page = slack.bot.conversations_history(channel=slack.channel, **bounds)
        return [m["text"] for m in page["messages"]]

    assert texts(oldest=stamps[1], latest=stamps[3]) == ["2"]
    assert texts(oldest=stamps[1], latest=stamps[3], inclusive=True) == ["3", "2", "1"]
    assert texts(oldest=stamps[3]) == ["4"]
    assert error_of(lambda: slack.bot.conversations_history(channel=slack.channel, oldest="x")) == (
        "invalid_ts_oldest"
    )
    assert error_of(lambda: slack.bot.conversations_history(channel=slack.channel, latest="y")) == (
        "invalid_ts_latest"
    )


def test_an_unknown_thread_ts_answers_ok_but_the_reply_reaches_no_thread(
    slack: SlackHarness,
) -> None:
    parent = slack.post("parent")["ts"]
    as_float = str(float(parent))  # what a float round-trip makes of "….123450"-style stamps

    lost = slack.post("lost", thread_ts=parent + "9")

    assert lost["ok"] is True
    assert lost["message"]["thread_ts"] == parent + "9"
    assert [m["text"] for m in slack.emulator.thread(slack.channel, parent)] == ["parent"]
    assert "lost" not in [m["text"] for m in slack.emulator.channel_messages(slack.channel)]
    orphans = slack.emulator.orphan_replies()
    assert [(o["text"], o["thread_ts"]) for o in orphans] == [("lost", parent + "9")]
    if as_float != parent:
        slack.post("float", thread_ts=as_float)
        assert len(slack.emulator.orphan_replies()) == 2


def test_thread_ts_naming_a_reply_lands_in_the_parents_thread(slack: SlackHarness) -> None:
    parent = slack.post("parent")["ts"]
    reply = slack.post("r1", thread_ts=parent)["ts"]

    nested = slack.post("r2", thread_ts=reply)

    assert nested["message"]["thread_ts"] == parent
    replies = slack.bot.conversations_replies(channel=slack.channel, ts=reply)["messages"]
    assert [m["text"] for m in replies] == ["parent", "r1", "r2"]


def test_replies_of_a_message_without_replies_and_of_an_unknown_ts(slack: SlackHarness) -> None:
    alone = slack.post("alone")["ts"]

    messages = slack.bot.conversations_replies(channel=slack.channel, ts=alone)["messages"]

    assert [m["text"] for m in messages] == ["alone"]
    assert "thread_ts" not in messages[0]
    assert (
        error_of(
            lambda: slack.bot.conversations_replies(channel=slack.channel, ts="1234567890.000001")
        )
        == "thread_not_found"
    )


def test_update_with_text_and_no_blocks_removes_the_blocks_and_marks_it_edited(
    slack: SlackHarness,
) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*SEV2* open"}}]
    posted = slack.post("SEV2 open", blocks=blocks)

    updated = slack.bot.chat_update(channel=slack.channel, ts=posted["ts"], text="SEV2 resolved")

    assert updated["ts"] == posted["ts"]
    assert updated["text"] == "SEV2 resolved"
    assert "ts" not in updated["message"]  # chat.update's message carries no ts (java samples)
    stored = slack.emulator.thread(slack.channel, posted["ts"])[0]
    assert stored["text"] == "SEV2 resolved"
    assert "blocks" not in stored
    assert stored["edited"]["user"] == slack.workspace.slack_bot_user_id
    assert TS.fullmatch(stored["edited"]["ts"])


def test_update_with_blocks_keeps_no_edited_mark_and_omitting_both_keeps_content(
    slack: SlackHarness,
) -> None:
    posted = slack.post("fallback")
    new_blocks = [{"type": "section", "text": {"type": "plain_text", "text": "now with blocks"}}]

    slack.bot.chat_update(channel=slack.channel, ts=posted["ts"], blocks=new_blocks)
    stored = slack.emulator.thread(slack.channel, posted["ts"])[0]
    slack.bot.chat_update(
        channel=slack.channel, ts=posted["ts"], metadata={"event_type": "x", "event_payload": {}}
    )
    again = slack.emulator.thread(slack.channel, posted["ts"])[0]

    assert stored["text"] == "fallback"
    assert stored["blocks"][0]["text"]["text"] == "now with blocks"
    assert "edited" not in stored
    assert again["blocks"] == stored["blocks"]
    assert again["text"] == "fallback"


def test_update_refuses_text_over_4000_characters(slack: SlackHarness) -> None:
    posted = slack.post("short")

    ok = slack.bot.chat_update(channel=slack.channel, ts=posted["ts"], text="a" * 4000)
    error = error_of(
        lambda: slack.bot.chat_update(channel=slack.channel, ts=posted["ts"], text="a" * 4001)
    )

    assert ok["ok"] is True
    assert error == "msg_too_long"
    assert slack.emulator.thread(slack.channel, posted["ts"])[0]["text"] == "a" * 4000


def test_update_of_someone_elses_message_or_a_missing_one_fails(slack: SlackHarness) -> None:
    theirs = slack.person(0).chat_postMessage(channel=slack.channel, text="mine")

    assert "bot_id" not in theirs["message"]
    assert (
        error_of(
            lambda: slack.bot.chat_update(channel=slack.channel, ts=theirs["ts"], text="hijack")
        )
        == "cant_update_message"
    )
    assert (
        error_of(
            lambda: slack.bot.chat_update(channel=slack.channel, ts="1234567890.000001", text="x")
        )
        == "message_not_found"
    )
    assert (
        error_of(lambda: slack.bot.chat_update(channel=slack.channel, ts=theirs["ts"], text=""))
        == "cant_update_message"
    )


def test_update_to_nothing_is_no_text(slack: SlackHarness) -> None:
    posted = slack.post("x")

    assert (
        error_of(lambda: slack.bot.chat_update(channel=slack.channel, ts=posted["ts"], text=""))
        == "no_text"
    )
    assert error_of(lambda: slack.bot.chat_update(channel=slack.channel, ts=posted["ts"])) == (
        "no_text"
    )


def test_post_needs_text_or_blocks(slack: SlackHarness) -> None:
    assert error_of(lambda: slack.post("")) == "no_text"
    assert error_of(lambda: slack.post("", blocks=[])) == "no_text"


def test_post_truncates_text_over_40000_characters_with_a_warning(slack: SlackHarness) -> None:
    long = slack.post("b" * 40_001)
    exact = slack.post("c" * 40_000)

    assert long["response_metadata"]["warnings"] == ["message_truncated"]
    assert len(long["message"]["text"]) == 40_000
    assert "response_metadata" not in exact.data
    assert len(slack.emulator.thread(slack.channel, long["ts"])[0]["text"]) == 40_000


def test_deleting_replies_and_parents_keeps_threads_consistent(slack: SlackHarness) -> None:
    parent = slack.post("parent")["ts"]
    r1 = slack.post("r1", thread_ts=parent)["ts"]
    r2 = slack.post("r2", thread_ts=parent)["ts"]

    deleted = slack.bot.chat_delete(channel=slack.channel, ts=r2)
    head = slack.emulator.thread(slack.channel, parent)[0]
    slack.bot.chat_delete(channel=slack.channel, ts=parent)
    stub = slack.emulator.thread(slack.channel, parent)

    assert deleted["ts"] == r2
    assert head["reply_count"] == 1
    assert head["latest_reply"] == r1
    assert stub[0]["subtype"] == "tombstone"
    assert [m["text"] for m in stub[1:]] == ["r1"]
    slack.bot.chat_delete(channel=slack.channel, ts=r1)
    assert slack.emulator.channel_messages(slack.channel) == []
    assert error_of(lambda: slack.bot.chat_delete(channel=slack.channel, ts=r1)) == (
        "message_not_found"
    )


def test_nobody_deletes_someone_elses_message(slack: SlackHarness) -> None:
    theirs = slack.person(0).chat_postMessage(channel=slack.channel, text="mine")["ts"]

    assert error_of(lambda: slack.bot.chat_delete(channel=slack.channel, ts=theirs)) == (
        "cant_delete_message"
    )


def test_permalinks_point_at_the_message_and_at_the_thread_for_replies(
    slack: SlackHarness,
) -> None:
    parent = slack.post("parent")["ts"]
    reply = slack.post("r", thread_ts=parent)["ts"]
    base = f"https://{slack.workspace.slack_team_domain}.slack.com/archives/{slack.channel}"

    top = slack.bot.chat_getPermalink(channel=slack.channel, message_ts=parent)
    threaded = slack.bot.chat_getPermalink(channel=slack.channel, message_ts=reply)

    assert top["permalink"] == f"{base}/p{parent.replace('.', '')}"
    assert threaded["permalink"] == (
        f"{base}/p{reply.replace('.', '')}?thread_ts={parent}&cid={slack.channel}"
    )
    assert (
        error_of(lambda: slack.bot.chat_getPermalink(channel=slack.channel, message_ts="1.000000"))
        == "message_not_found"
    )


def test_a_permalink_is_the_workspace_url_of_auth_test_the_channel_and_the_ts(
    slack: SlackHarness,
) -> None:
    """As in the reference (auth.test: "url": "https://subarachnoid.slack.com/";
    chat.getPermalink: "https://ghostbusters.slack.com/archives/C1H9RESGA/p135854651500008"):
    the worker builds its threads' links this way instead of asking for each."""
    ts = slack.post("parent")["ts"]
    url = slack.bot.auth_test()["url"]
    assert url == f"https://{slack.workspace.slack_team_domain}.slack.com/"
    permalink = slack.bot.chat_getPermalink(channel=slack.channel, message_ts=ts)["permalink"]
    assert permalink == f"{url}archives/{slack.channel}/p{ts.replace('.', '')}"


def test_metadata_shows_only_when_asked_for(slack: SlackHarness) -> None:
    metadata = {"event_type": "incident_declared", "event_payload": {"page": "abc", "sev": 2}}
    posted = slack.post("SEV2", metadata=metadata)
    slack.post("r", thread_ts=posted["ts"])

    plain = slack.bot.conversations_history(channel=slack.channel)["messages"][0]
    rich = slack.bot.conversations_history(channel=slack.channel, include_all_metadata=True)
    thread = slack.bot.conversations_replies(
        channel=slack.channel, ts=posted["ts"], include_all_metadata=True
    )

    assert posted["message"]["metadata"] == metadata
    assert "metadata" not in plain
    assert rich["messages"][0]["metadata"] == metadata
    assert thread["messages"][0]["metadata"] == metadata
    assert "metadata" not in thread["messages"][1]


def test_metadata_sent_as_a_json_string_and_bad_metadata(slack: SlackHarness) -> None:
    as_string = '{"event_type": "x", "event_payload": {"k": "v"}}'
    posted = slack.bot.api_call(
        "chat.postMessage", params={"channel": slack.channel, "text": "t", "metadata": as_string}
    )

    assert posted["message"]["metadata"] == {"event_type": "x", "event_payload": {"k": "v"}}
    bad = {"channel": slack.channel, "text": "t", "metadata": "{nope"}
    assert error_of(lambda: slack.bot.api_call("chat.postMessage", params=bad)) == (
        "invalid_metadata_format"
    )
    assert error_of(lambda: slack.post("t", metadata={"a": 1})) == "invalid_metadata_schema"


def _metadata_of(slack: SlackHarness, ts: str) -> Any:
    thread = slack.bot.conversations_replies(
        channel=slack.channel, ts=ts, include_all_metadata=True
    )
    return thread["messages"][0].get("metadata")


def test_update_keeps_metadata_unless_sent_an_empty_object_which_removes_it(
    slack: SlackHarness,
) -> None:
    """chat.update's `metadata`: "If you don't include this field, the message's previous
    `metadata` will be retained. To remove previous `metadata`, include an empty object for
    this field." (slack-method-catalog/chat.update.json)"""
    metadata = {"event_type": "incident_declared", "event_payload": {"page": "abc"}}
    ts = slack.post("SEV2", metadata=metadata)["ts"]

    slack.bot.chat_update(channel=slack.channel, ts=ts, text="SEV2 (edited)")
    kept = _metadata_of(slack, ts)
    removed = slack.bot.chat_update(channel=slack.channel, ts=ts, text="SEV2", metadata={})
    as_form = {"channel": slack.channel, "ts": ts, "text": "SEV2 again", "metadata": "{}"}
    slack.bot.api_call("chat.update", params=as_form)

    assert kept == metadata
    assert "metadata" not in removed["message"]
    assert _metadata_of(slack, ts) is None
    assert slack.emulator.thread(slack.channel, ts)[0]["text"] == "SEV2 again"


INCIDENT_ENTITY = {
    "entity_type": "slack#/entities/incident",
    "url": "https://example.com/incidents/42",
    "external_ref": {"id": "42"},
    "entity_payload": {"attributes": {"title": {"text": "SEV2 checkout errors"}}},
}


def test_work_object_entity_metadata_is_accepted_on_post(slack: SlackHarness) -> None:
    """chat.postMessage's `metadata`: "You can also provide Work Object entity metadata using
    this parameter" (slack-method-catalog/chat.postMessage.json); its shape is slack-sdk's
    EventAndEntityMetadata / EntityMetadata (entity_type, entity_payload, external_ref, url
    required; models/metadata) and docs.slack.dev/messaging/work-objects-implementation."""
    entities = {"entities": [INCIDENT_ENTITY]}
    both = {"event_type": "incident", "event_payload": {"page": "abc"}, **entities}

    only = slack.post("SEV2", metadata=entities)
    mixed = slack.post("SEV2", metadata=both)

    assert only["message"]["metadata"] == entities
    assert mixed["message"]["metadata"] == both
    assert _metadata_of(slack, only["ts"]) == entities
    assert "warning" not in only.data


@pytest.mark.parametrize(
    ("entities", "problems"),
    [
        ([INCIDENT_ENTITY], []),
        ([INCIDENT_ENTITY, INCIDENT_ENTITY], []),
        ([], ["must be a non-empty array (pointer: /metadata/entities)"]),
        ({"0": INCIDENT_ENTITY}, ["must be a non-empty array (pointer: /metadata/entities)"]),
        (["incident"], ["must be an object (pointer: /metadata/entities/0)"]),
        (
            [{"url": "https://example.com/1"}],
            [
                "missing required field: entity_type (pointer: /metadata/entities/0)",
                "missing required field: entity_payload (pointer: /metadata/entities/0)",
                "missing required field: external_ref (pointer: /metadata/entities/0)",
            ],
        ),
        (
            [{**INCIDENT_ENTITY, "external_ref": {"type": "incident"}}],
            ["missing required field: id (pointer: /metadata/entities/0/external_ref)"],
        ),
    ],
)
def test_work_object_entities_need_their_four_fields_and_a_reference_id(
    entities: Any, problems: list[str]
) -> None:
    assert entity_problems(entities) == problems


def test_a_malformed_work_object_is_dropped_with_a_warning_not_refused(
    slack: SlackHarness,
) -> None:
    """Slack posts the message, drops invalid Work Object metadata and says so: `"ok": true,
    "warning": "invalid_metadata_format", "response_metadata": {"messages": ["missing
    required field: alt_text (pointer: /metadata/entities/0/entity_payload/…)"]}` (a report
    from an implementer, reddit r/Slack "Slack Work Objects: What the docs don't tell you")."""
    broken = {key: value for key, value in INCIDENT_ENTITY.items() if key != "url"}

    posted = slack.post("SEV2", metadata={"entities": [INCIDENT_ENTITY, broken]})

    assert posted["ok"] is True
    assert posted["warning"] == "invalid_metadata_format"
    assert posted["response_metadata"]["messages"] == [
        "missing required field: url (pointer: /metadata/entities/1)"
    ]
    assert "metadata" not in posted["message"]
    assert _metadata_of(slack, posted["ts"]) is None


def test_ephemeral_messages_reach_one_member_and_no_history(slack: SlackHarness) -> None:
    sent = slack.bot.chat_postEphemeral(channel=slack.channel, user=slack.person_id(2), text="psst")

    assert TS.fullmatch(sent["message_ts"])
    assert slack.emulator.channel_messages(slack.channel) == []
    assert [(m["user"], m["text"]) for m in slack.emulator.ephemeral_messages()] == [
        (slack.person_id(2), "psst")
    ]
    outsider = slack.emulator.create_channel("elsewhere", is_private=False, members=[])
    slack.emulator.add_member(outsider, slack.workspace.slack_bot_user_id)
    assert (
        error_of(
            lambda: slack.bot.chat_postEphemeral(
                channel=outsider, user=slack.person_id(0), text="x"
            )
        )
        == "user_not_in_channel"
    )


def test_reactions_and_pins_show_on_the_message_and_refuse_doubles(slack: SlackHarness) -> None:
    ts = slack.post("SEV1")["ts"]

    slack.bot.reactions_add(channel=slack.channel, name="eyes", timestamp=ts)
    slack.person(0).reactions_add(channel=slack.channel, name="eyes", timestamp=ts)
    slack.bot.pins_add(channel=slack.channel, timestamp=ts)

    history = slack.bot.conversations_history(channel=slack.channel)
    assert history["messages"][0]["reactions"] == [
        {
            "name": "eyes",
            "users": [slack.workspace.slack_bot_user_id, slack.person_id(0)],
            "count": 2,
        }
    ]
    assert history["pin_count"] == 1
    assert (
        error_of(lambda: slack.bot.reactions_add(channel=slack.channel, name="eyes", timestamp=ts))
        == "already_reacted"
    )
    assert error_of(lambda: slack.bot.pins_add(channel=slack.channel, timestamp=ts)) == (
        "already_pinned"
    )
    assert (
        error_of(
            lambda: slack.bot.reactions_add(channel=slack.channel, name=":eyes:", timestamp=ts)
        )
        == "invalid_name"
    )
    assert (
        error_of(lambda: slack.bot.pins_add(channel=slack.channel, timestamp="1234567890.000001"))
        == "message_not_found"
    )


def test_markdown_text_posts_a_markdown_block_and_excludes_text(slack: SlackHarness) -> None:
    posted = slack.bot.chat_postMessage(channel=slack.channel, markdown_text="**SEV2** open")

    assert posted["message"]["text"] == "**SEV2** open"
    assert posted["message"]["blocks"][0]["type"] == "markdown"
    assert (
        error_of(
            lambda: slack.bot.chat_postMessage(channel=slack.channel, text="x", markdown_text="y")
        )
        == "markdown_text_conflict"
    )
