"""Slack emulator: Block Kit limits answered as `invalid_blocks` with json-pointer messages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import blocks as sdk_blocks

from tests.sandbox.slack_reference import SlackHarness, error_of, java_sample, serve_slack
from worker.sandbox.slack.blocks import (
    BLOCK_PROPERTIES,
    KNOWN_BLOCK_TYPES,
    blocks_text_length,
    normalise_blocks,
    validate_blocks,
)


def section(text: str, kind: str = "mrkdwn", **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": kind, "text": text, **extra}}


def header(text: str, kind: str = "plain_text") -> dict[str, Any]:
    return {"type": "header", "text": {"type": kind, "text": text}}


def context(count: int) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}] * count}


def fields(count: int, length: int = 1) -> dict[str, Any]:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * length}] * count}


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        ([section("a" * 3000), header("h" * 150), context(10), fields(10, 2000)], []),
        ([{"type": "divider"}] * 50, []),
        (
            [section("a" * 3001)],
            [
                "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/0/text]",
                "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
            ],
        ),
        (
            [section("")],
            ["[ERROR] must be more than 0 characters [json-pointer:/blocks/0/text/text]"],
        ),
        (
            [{"type": "divider"}, header("h" * 151)],
            [
                "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/1/text]",
                "[ERROR] must be less than 151 characters [json-pointer:/blocks/1/text/text]",
            ],
        ),
        (
            [header("*bold*", kind="mrkdwn")],
            [
                "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/0/text]",
                "[ERROR] must be a valid enum value [json-pointer:/blocks/0/text/type]",
            ],
        ),
        (
            [{"type": "divider"}] * 51,
            ["[ERROR] no more than 50 items allowed [json-pointer:/blocks]"],
        ),
        (
            [context(11)],
            ["[ERROR] no more than 10 items allowed [json-pointer:/blocks/0/elements]"],
        ),
        (
            [fields(11)],
            ["[ERROR] no more than 10 items allowed [json-pointer:/blocks/0/fields]"],
        ),
        (
            [fields(2, 2001)],
            [
                "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/0/fields/0]",
                "[ERROR] must be less than 2001 characters [json-pointer:/blocks/0/fields/0/text]",
                "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/0/fields/1]",
                "[ERROR] must be less than 2001 characters [json-pointer:/blocks/0/fields/1/text]",
            ],
        ),
        (
            [{"type": "section"}],
            ["[ERROR] must define either `text` or `fields` [json-pointer:/blocks/0/type]"],
        ),
        (
            [{"type": "carousel"}],
            ["[ERROR] unsupported type: carousel [json-pointer:/blocks/0/type]"],
        ),
        (
            [{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}],
            ["[ERROR] duplicate block_id: a [json-pointer:/blocks/1/block_id]"],
        ),
        (
            [{"type": "divider", "block_id": "b" * 256}],
            ["[ERROR] must be less than 256 characters [json-pointer:/blocks/0/block_id]"],
        ),
        (
            [section("plain", kind="plain_text", verbatim=True)],
            [
                "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/0/text]",
                "[ERROR] invalid additional property: verbatim [json-pointer:/blocks/0/text]",
            ],
        ),
        ([section("rich", verbatim=True), section("plain", kind="plain_text", emoji=True)], []),
        (
            [section("x", kind="markdown")],
            [
                "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/0/text]",
                "[ERROR] must be a valid enum value [json-pointer:/blocks/0/text/type]",
            ],
        ),
        (["not a block"], ["[ERROR] failed to match all allowed schemas [json-pointer:/blocks/0]"]),
        (
            [{"type": "image", "image_url": "https://example.com/a.png"}],
            ["[ERROR] missing required field: alt_text [json-pointer:/blocks/0]"],
        ),
        # Properties a block does not have are refused, as they are in text objects
        # ("invalid additional property: emoji [json-pointer:/blocks/0/text]", quoted in
        # grafana/oncall pull 702; slack-go/slack issue 612: an extra "url" → invalid_blocks).
        (
            [{"type": "divider", "color": "red"}],
            ["[ERROR] invalid additional property: color [json-pointer:/blocks/0]"],
        ),
        (
            [{"type": "divider"}, {**section("s"), "accesory": {"type": "button"}}],
            ["[ERROR] invalid additional property: accesory [json-pointer:/blocks/1]"],
        ),
        (
            [{**header("h"), "emoji": True}],
            ["[ERROR] invalid additional property: emoji [json-pointer:/blocks/0]"],
        ),
        (
            [{"type": "context", "elements": [{"type": "mrkdwn", "text": "x", "emoji": True}]}],
            [
                "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/0/elements/0]",
                "[ERROR] invalid additional property: emoji [json-pointer:/blocks/0/elements/0]",
            ],
        ),
        ([{**section("s"), "block_id": "b1", "expand": True}], []),
    ],
)
def test_block_kit_limits(blocks: list[Any], expected: list[str]) -> None:
    assert validate_blocks(blocks) == expected


def _sdk_block_properties() -> dict[str, set[str]]:
    """The properties slack-sdk's Block Kit models give each block type (models/blocks)."""
    found: dict[str, set[str]] = {}
    for cls in vars(sdk_blocks).values():
        if isinstance(cls, type) and issubclass(cls, sdk_blocks.Block) and cls.__dict__.get("type"):
            attributes = cls.__dict__.get("attributes")
            # Block.attributes is a set on the base class and a property on the subclasses.
            keys = attributes.fget(cls) if isinstance(attributes, property) else attributes
            found[cls.__dict__["type"]] = set(keys or sdk_blocks.Block.attributes)
    return found


def test_the_properties_each_block_may_have_are_slack_sdks() -> None:
    """Slack's own Python models list the properties of every block type; the emulator
    refuses any other (and accepts every one of those)."""
    sdk = _sdk_block_properties()

    assert set(sdk) >= KNOWN_BLOCK_TYPES
    assert {kind: set(BLOCK_PROPERTIES[kind]) for kind in KNOWN_BLOCK_TYPES} == {
        kind: sdk[kind] for kind in KNOWN_BLOCK_TYPES
    }


def test_stored_blocks_get_ids_and_text_defaults_like_slack_adds_them() -> None:
    blocks = [section("hi"), header("title"), {"type": "divider", "block_id": "keep"}]

    stored = normalise_blocks(blocks, "seed")

    assert [len(b["block_id"]) for b in stored[:2]] == [5, 5]
    assert stored[2]["block_id"] == "keep"
    assert stored[0]["text"] == {"type": "mrkdwn", "text": "hi", "verbatim": False}
    assert stored[1]["text"] == {"type": "plain_text", "text": "title", "emoji": True}
    assert normalise_blocks(blocks, "seed") == stored
    assert blocks[0]["text"] == {"type": "mrkdwn", "text": "hi"}  # the caller's copy is untouched


@pytest.fixture
def slack() -> Iterator[SlackHarness]:
    with serve_slack() as harness:
        yield harness


def test_invalid_blocks_reach_slack_sdk_with_their_messages(slack: SlackHarness) -> None:
    with pytest.raises(SlackApiError) as failure:
        slack.post("fallback", blocks=[section("a" * 3001)])

    answer = failure.value.response
    assert answer.status_code == 200
    assert answer["error"] == "invalid_blocks"
    assert answer["response_metadata"]["messages"] == [
        "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/0/text]",
        "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
    ]
    assert slack.emulator.all_messages() == []


def test_invalid_blocks_answers_carry_the_errors_array_too(slack: SlackHarness) -> None:
    """A real answer (quoted from a slack-sdk SlackApiError): `{'ok': False, 'error':
    'invalid_blocks', 'errors': ['failed to match all allowed schemas
    [json-pointer:/blocks/0/text]', 'must be less than 3001 characters
    [json-pointer:/blocks/0/text/text]'], 'response_metadata': {'messages': ['[ERROR] …',
    '[ERROR] …']}}` (brainxx.org "Fixing Slack API Error"; slackapi/java-slack-sdk issue
    1017 shows `errors` too, and the java chat.postMessage sample has the key)."""
    ts = slack.post("fine")["ts"]
    answers = []
    for call in (
        lambda: slack.post("fallback", blocks=[section("a" * 3001)]),
        lambda: slack.bot.chat_update(
            channel=slack.channel, ts=ts, text="t", blocks=[section("a" * 3001)]
        ),
    ):
        with pytest.raises(SlackApiError) as failure:
            call()
        answers.append(failure.value.response)

    for answer in answers:
        assert answer["errors"] == [
            "failed to match all allowed schemas [json-pointer:/blocks/0/text]",
            "must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
        ]
        assert answer["response_metadata"]["messages"] == [f"[ERROR] {e}" for e in answer["errors"]]
    assert "errors" in java_sample("chat.postMessage")


def test_unknown_block_properties_are_refused_on_the_wire(slack: SlackHarness) -> None:
    ts = slack.post("fine")["ts"]
    typo = [
        {
            "type": "section",
            "txt": {"type": "mrkdwn", "text": "x"},
            "text": {"type": "mrkdwn", "text": "y"},
        }
    ]

    assert error_of(lambda: slack.post("fallback", blocks=typo)) == "invalid_blocks"
    assert (
        error_of(lambda: slack.bot.chat_update(channel=slack.channel, ts=ts, text="t", blocks=typo))
        == "invalid_blocks"
    )


def test_chat_update_checks_blocks_too(slack: SlackHarness) -> None:
    ts = slack.post("fine")["ts"]

    with pytest.raises(SlackApiError) as failure:
        slack.bot.chat_update(channel=slack.channel, ts=ts, text="t", blocks=[header("h" * 151)])

    assert failure.value.response["error"] == "invalid_blocks"
    assert slack.emulator.thread(slack.channel, ts)[0]["text"] == "fine"


# -- the total text of a message's blocks (reference/slack/limits-measured.md) -----------------


def _sections_totalling(chars: int) -> list[dict[str, Any]]:
    """Sections each within 3,000 characters whose text adds up to `chars`."""
    sizes = [2640] * (chars // 2640) + ([chars % 2640] if chars % 2640 else [])
    return [section("x" * size) for size in sizes]


def test_blocks_over_13200_characters_in_all_are_msg_blocks_too_long(slack: SlackHarness) -> None:
    """Real Slack refuses a message whose blocks add up to more than about 13,200 characters
    although each block is valid (measured at 13,202 and 13,297: limits-measured.md)."""
    assert validate_blocks(_sections_totalling(13_201)) == []  # every block is fine alone

    ok = slack.post("fallback", blocks=_sections_totalling(13_200))
    error = error_of(lambda: slack.post("fallback", blocks=_sections_totalling(13_201)))

    assert ok["ok"] is True
    assert error == "msg_blocks_too_long"
    assert len(slack.emulator.all_messages()) == 1


def test_chat_update_refuses_blocks_over_the_total_too(slack: SlackHarness) -> None:
    ts = slack.post("fine")["ts"]

    error = error_of(
        lambda: slack.bot.chat_update(
            channel=slack.channel, ts=ts, text="t", blocks=_sections_totalling(13_201)
        )
    )

    assert error == "msg_blocks_too_long"
    assert slack.emulator.thread(slack.channel, ts)[0]["text"] == "fine"


def test_the_total_counts_headers_fields_and_context_too(slack: SlackHarness) -> None:
    blocks = [
        header("h" * 150),
        fields(10, 1000),
        context(10),
        section("s" * 2000),
        section("s" * 1040),
    ]  # 150 + 10,000 + 10 + 3,040 = 13,200

    assert blocks_text_length(blocks) == 13_200
    assert slack.post("fallback", blocks=blocks)["ok"] is True
    blocks[-1] = section("s" * 1041)
    assert error_of(lambda: slack.post("fallback", blocks=blocks)) == "msg_blocks_too_long"


def test_a_test_can_tighten_the_total_or_refuse_marked_content(slack: SlackHarness) -> None:
    slack.emulator.set_blocks_text_limit(100)
    assert error_of(lambda: slack.post("f", blocks=[section("x" * 101)])) == "msg_blocks_too_long"
    assert slack.post("a text-only message of any length " * 10)["ok"] is True
    slack.emulator.set_blocks_text_limit()
    assert slack.post("f", blocks=_sections_totalling(13_200))["ok"] is True

    slack.emulator.refuse_content("UNPOSTABLE", "invalid_arguments")
    assert error_of(lambda: slack.post("say UNPOSTABLE")) == "invalid_arguments"
    assert error_of(lambda: slack.post("f", blocks=[section("UNPOSTABLE")])) == "invalid_arguments"
    slack.emulator.refuse_content("UNPOSTABLE", None)
    assert slack.post("say UNPOSTABLE")["ok"] is True
