"""The buttons and the Post update modal: valid Block Kit whatever the wording says (slack-sdk's
own models and the sandbox's checks agree), values that read back, and clicks' text found."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from tests import factories
from worker.buttons_blocks import (
    POST_UPDATE,
    TAKE_COMMAND,
    UPDATE_BLOCK,
    UPDATE_INPUT,
    UPDATE_VIEW,
    ButtonLabels,
    ButtonValue,
    UpdateOrigin,
    buttons_enabled,
    command_buttons,
    is_snooze,
    overdue_buttons,
    parent_buttons,
    post_update_view,
    submitted_text,
)
from worker.sandbox.slack.blocks import validate_blocks

PAGE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
REMINDER = f"nudge:{PAGE}:update_overdue:20261128T093000Z"
ORIGIN = UpdateOrigin(PAGE, "C0INCIDENTS", "1764320400.000100")


def _valid_block(block: dict[str, Any]) -> None:
    """Slack's rules as slack-sdk states them (it raises on any), and the sandbox's."""
    parsed = Block.parse(block)
    assert parsed is not None
    parsed.validate_json()
    assert parsed.to_dict() == block
    assert validate_blocks([block]) == []


def _action_ids(block: dict[str, Any]) -> list[str]:
    return [element["action_id"] for element in block["elements"]]


def test_an_overdue_reminder_offers_post_update_and_two_snoozes() -> None:
    block = overdue_buttons(PAGE, REMINDER, ButtonLabels(snooze={30: "Snooze 30 min"}))
    _valid_block(block)
    assert _action_ids(block) == [POST_UPDATE, "incident.snooze.30", "incident.snooze.60"]
    assert [is_snooze(a) for a in _action_ids(block)] == [False, True, True]
    values = [ButtonValue.decode(e["value"]) for e in block["elements"]]
    assert values == [
        ButtonValue(PAGE, REMINDER),
        ButtonValue(PAGE, REMINDER, 30),
        ButtonValue(PAGE, REMINDER, 60),
    ]
    texts = [e["text"]["text"] for e in block["elements"]]
    assert texts == ["Post update", "Snooze 30 min", "Snooze 60 min"]


def test_the_no_commander_reminder_offers_to_take_command_and_the_parent_to_post() -> None:
    command = command_buttons(PAGE, f"nudge:{PAGE}:no_commander", ButtonLabels())
    parent = parent_buttons(PAGE, ButtonLabels())
    for block in (command, parent):
        _valid_block(block)
    assert _action_ids(command) == [TAKE_COMMAND]
    assert _action_ids(parent) == [POST_UPDATE]
    assert ButtonValue.decode(parent["elements"][0]["value"]) == ButtonValue(PAGE)


labels = st.text(max_size=400)


@given(post=labels, snooze=labels, take=labels)
def test_any_wording_makes_valid_buttons(post: str, snooze: str, take: str) -> None:
    words = ButtonLabels(post_update=post, snooze={30: snooze, 60: snooze}, take_command=take)
    for block in (
        overdue_buttons(PAGE, REMINDER, words),
        command_buttons(PAGE, REMINDER, words),
        parent_buttons(PAGE, words),
    ):
        _valid_block(block)


@given(
    title=labels,
    submit=labels,
    close=labels,
    label=labels,
    placeholder=labels,
    about=st.text(max_size=4000),
)
def test_any_wording_makes_a_valid_modal(
    *, title: str, submit: str, close: str, label: str, placeholder: str, about: str
) -> None:
    words = ButtonLabels(
        modal_title=title,
        modal_submit=submit,
        modal_close=close,
        modal_label=label,
        modal_placeholder=placeholder,
    )
    view = post_update_view(ORIGIN, words, about=about)
    View(**view).validate_json()
    for block in view["blocks"]:
        assert Block.parse(block) is not None
    assert view["callback_id"] == UPDATE_VIEW
    assert UpdateOrigin.decode(view["private_metadata"]) == ORIGIN


def test_the_modal_asks_for_a_multi_line_update() -> None:
    view = post_update_view(ORIGIN, ButtonLabels(), about="*Checkout down*")
    field = view["blocks"][-1]
    assert field["block_id"] == UPDATE_BLOCK
    assert field["element"]["type"] == "plain_text_input"
    assert field["element"]["multiline"] is True
    assert field["element"]["action_id"] == UPDATE_INPUT
    assert view["blocks"][0]["text"]["text"] == "*Checkout down*"
    assert len(post_update_view(ORIGIN, ButtonLabels())["blocks"]) == 1  # nothing to show


def test_a_submitted_modal_gives_its_text() -> None:
    view = {
        "state": {
            "values": {
                UPDATE_BLOCK: {UPDATE_INPUT: {"type": "plain_text_input", "value": "Rolled back"}}
            }
        }
    }
    assert submitted_text(view) == "Rolled back"
    assert submitted_text({"state": {"values": {}}}) is None
    assert submitted_text({}) is None


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "not json",
        "[]",
        '{"reminder": "x"}',
        '{"page": 3}',
        '{"page": "p", "minutes": "30"}',
        '{"page": "p", "minutes": -5}',
        '{"page": "p", "reminder": 7}',
    ],
)
def test_a_value_this_version_did_not_make_is_not_read(value: object) -> None:
    assert ButtonValue.decode(value) is None


@pytest.mark.parametrize(
    "metadata",
    [
        None,
        "",
        "{}",
        '{"page": "p", "channel": "C1"}',
        '{"page": "", "channel": "C1", "thread_ts": "1.2"}',
    ],
)
def test_a_modal_not_opened_by_the_worker_is_not_read(metadata: object) -> None:
    assert UpdateOrigin.decode(metadata) is None


def test_buttons_only_with_inbound_slack() -> None:
    assert not buttons_enabled(factories.settings())
    assert buttons_enabled(factories.settings(SLACK_APP_TOKEN="xapp-1-A1-1-" + "a" * 64))
    assert buttons_enabled(factories.settings(SLACK_SIGNING_SECRET="0" * 32))
