"""Sandbox Slack: modals — trigger ids (3 s, one use), the view stack, hashes, and what a
person sees after the app's ack to their submission."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.sandbox.slack_reference import SlackHarness, error_of, serve_slack


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slack(clock: Clock) -> Iterator[SlackHarness]:
    with serve_slack(clock=clock) as harness:
        yield harness


def modal(title: str = "Post update", **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "post_update",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Post"},
        "blocks": [
            {
                "type": "input",
                "block_id": "status",
                "label": {"type": "plain_text", "text": "Status"},
                "element": {"type": "plain_text_input", "action_id": "text"},
            },
            {
                "type": "input",
                "block_id": "note",
                "optional": True,
                "label": {"type": "plain_text", "text": "Note"},
                "element": {"type": "plain_text_input", "action_id": "text"},
            },
        ],
        **extra,
    }


def trigger(slack: SlackHarness, person: int = 0) -> str:
    """A trigger id, as a global shortcut hands one out (no app listening: not acked)."""
    return str(slack.emulator.shortcut(slack.person_id(person), "declare")["trigger_id"])


def test_a_trigger_opens_one_view_for_its_person(slack: SlackHarness) -> None:
    trigger_id = trigger(slack, 1)

    view = slack.bot.views_open(trigger_id=trigger_id, view=modal())["view"]

    assert view["id"].startswith("V")
    assert view["root_view_id"] == view["id"]
    assert view["title"] == {"type": "plain_text", "text": "Post update", "emoji": True}
    assert [v["id"] for v in slack.emulator.views(slack.person_id(1))] == [view["id"]]
    assert slack.emulator.views(slack.person_id(0)) == []
    again = error_of(lambda: slack.bot.views_open(trigger_id=trigger_id, view=modal()))
    assert again == "exchanged_trigger_id"


def test_a_trigger_expires_after_three_seconds(slack: SlackHarness, clock: Clock) -> None:
    trigger_id = trigger(slack)
    clock.now += 3.5

    assert error_of(lambda: slack.bot.views_open(trigger_id=trigger_id, view=modal())) == (
        "expired_trigger_id"
    )
    assert error_of(lambda: slack.bot.views_open(trigger_id="1.2.abc", view=modal())) == (
        "invalid_trigger_id"
    )


def test_views_stack_up_to_three(slack: SlackHarness) -> None:
    root = slack.bot.views_open(trigger_id=trigger(slack), view=modal())["view"]
    second = slack.bot.views_push(trigger_id=trigger(slack), view=modal("Two"))["view"]
    slack.bot.views_push(trigger_id=trigger(slack), view=modal("Three"))

    assert second["previous_view_id"] == root["id"]
    assert second["root_view_id"] == root["id"]
    assert (
        error_of(lambda: slack.bot.views_push(trigger_id=trigger(slack), view=modal("Four")))
        == "push_limit_reached"
    )
    titles = [v["title"]["text"] for v in slack.emulator.views(slack.person_id(0))]
    assert titles == ["Post update", "Two", "Three"]


def test_an_update_with_a_stale_hash_is_a_conflict(slack: SlackHarness) -> None:
    view = slack.bot.views_open(trigger_id=trigger(slack), view=modal())["view"]
    updated = slack.bot.views_update(view_id=view["id"], hash=view["hash"], view=modal("New"))

    assert updated["view"]["hash"] != view["hash"]
    assert (
        error_of(
            lambda: slack.bot.views_update(view_id=view["id"], hash=view["hash"], view=modal())
        )
        == "hash_conflict"
    )
    assert error_of(lambda: slack.bot.views_update(view_id="VNOPE", view=modal())) == "not_found"


def test_a_view_that_is_not_a_modal_is_refused(slack: SlackHarness) -> None:
    broken = {**modal(), "type": "home"}

    assert error_of(lambda: slack.bot.views_open(trigger_id=trigger(slack), view=broken)) == (
        "invalid_arguments"
    )


def test_a_submission_without_an_app_leaves_the_view_open(slack: SlackHarness) -> None:
    view = slack.bot.views_open(trigger_id=trigger(slack), view=modal())["view"]
    person = slack.person_id(0)

    result = slack.emulator.submit(person, view["id"], {"status": {"text": "ok"}})

    assert result["acked"] is False
    assert [v["id"] for v in slack.emulator.views(person)] == [view["id"]]
    assert slack.emulator.views(person)[0]["state"]["values"] == {
        "status": {"text": {"type": "plain_text_input", "value": "ok"}},
        "note": {"text": {"type": "plain_text_input", "value": None}},
    }


def test_a_required_input_must_be_filled_and_unknown_blocks_are_refused(
    slack: SlackHarness,
) -> None:
    view = slack.bot.views_open(trigger_id=trigger(slack), view=modal())["view"]
    person = slack.person_id(0)

    with pytest.raises(ValueError, match="required"):
        slack.emulator.submit(person, view["id"], {"note": {"text": "just a note"}})
    with pytest.raises(ValueError, match="no input block"):
        slack.emulator.submit(person, view["id"], {"nope": {"text": "x"}})
    with pytest.raises(KeyError):
        slack.emulator.submit(slack.person_id(1), view["id"], {"status": {"text": "x"}})
