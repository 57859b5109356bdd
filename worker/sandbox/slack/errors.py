"""Sandbox Slack: the app-level errors the emulator answers with (HTTP 200, `ok: false`)."""

from __future__ import annotations

from typing import Any

# Errors any method may answer with (slack-method-catalog/common_errors.json, plus the JSON-body
# errors of the 2020 OpenAPI document); a handler may raise these without declaring them.
COMMON_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "missing_scope",
        "not_allowed_token_type",
        "invalid_arguments",
        "invalid_form_data",
        "invalid_json",
        "json_not_object",
        "ratelimited",
    }
)


class SlackError(Exception):
    """An `ok: false` answer: the error code plus the extra fields Slack puts beside it."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.code, **self.extra}


def schema_messages(code: str, messages: list[str]) -> SlackError:
    """An error explained the way Slack's schema validator does it."""
    return SlackError(code, response_metadata={"messages": messages})


def invalid_blocks(problems: list[str]) -> SlackError:
    """`invalid_blocks` as Slack answers it: the problems twice, bare in `errors` and as
    `[ERROR] …` messages in `response_metadata` (a real answer quoted in a slack-sdk
    SlackApiError; tests/sandbox/test_slack_blocks.py)."""
    return SlackError(
        "invalid_blocks",
        errors=[p.removeprefix("[ERROR] ") for p in problems],
        response_metadata={"messages": problems},
    )


def missing_argument(name: str) -> SlackError:
    """What Slack answers when a required argument is absent."""
    return schema_messages("invalid_arguments", [f"[ERROR] missing required field: {name}"])


def missing_scope(needed: tuple[str, ...], provided: set[str]) -> SlackError:
    return SlackError("missing_scope", needed=",".join(needed), provided=",".join(sorted(provided)))
