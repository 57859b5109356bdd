"""Sandbox Slack inbound tests: what several test modules share (waiting, a message with a
button, a modal)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.sandbox.slack_reference import SlackHarness


def wait_for(condition: Callable[[], Any], timeout_s: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def button_message(slack: SlackHarness) -> str:
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Update overdue"}},
        {
            "type": "actions",
            "block_id": "reminder",
            "elements": [
                {
                    "type": "button",
                    "action_id": "incident.post_update",
                    "text": {"type": "plain_text", "text": "Post update"},
                    "value": '{"page": "p1"}',
                }
            ],
        },
    ]
    return str(slack.post("Update overdue", blocks=blocks)["ts"])


# A modal like the worker's Post update one (a multi-line plain_text_input).
MODAL = {
    "type": "modal",
    "callback_id": "post_update",
    "private_metadata": '{"page": "p1"}',
    "title": {"type": "plain_text", "text": "Post update"},
    "submit": {"type": "plain_text", "text": "Post"},
    "blocks": [
        {
            "type": "input",
            "block_id": "status",
            "label": {"type": "plain_text", "text": "Status"},
            "element": {"type": "plain_text_input", "action_id": "text", "multiline": True},
        }
    ],
}
