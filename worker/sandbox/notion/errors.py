"""Notion emulator: the one error type, Notion's error codes, and its validation messages."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any


class NotionError(Exception):
    """An API error as Notion reports it: HTTP status, `code`, `message`, `additional_data`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        additional_data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.additional_data = additional_data
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "object": "error",
            "status": self.status,
            "code": self.code,
            "message": self.message,
        }
        if self.additional_data is not None:
            body["additional_data"] = self.additional_data
        body["request_id"] = request_id
        return body


def validation_error(message: str) -> NotionError:
    return NotionError(400, "validation_error", message)


def invalid_request_url() -> NotionError:
    return NotionError(400, "invalid_request_url", "Invalid request URL.")


def unauthorized() -> NotionError:
    return NotionError(401, "unauthorized", "API token is invalid.")


def rate_limited(retry_after_s: int, reason: str) -> NotionError:
    """429 with the limit that was exceeded named in `additional_data.rate_limit_reason`."""
    return NotionError(
        429,
        "rate_limited",
        "You have been rate limited. Please try again in a few minutes.",
        {"rate_limit_reason": reason},
        headers={"retry-after": str(retry_after_s)},
    )


def not_found(kind: str, object_id: str, bot_name: str, bot_id: str) -> NotionError:
    message = (
        f"Could not find {kind} with ID: {object_id}. Make sure the relevant pages and "
        f'databases are shared with your integration "{bot_name}".'
    )
    return NotionError(404, "object_not_found", message, {"integration_id": bot_id})


def unknown_user_message(user_id: str) -> str:
    """Notion's words for a user it cannot show the integration (users.retrieve's 404; the
    same words refuse such a user in a people value or a mention)."""
    return (
        f"Could not find user with ID: {user_id}. Make sure your integration has capabilities "
        "to read user information. With those capabilities, only members and guests in the "
        "integration's workspace are visible."
    )


def user_not_found(user_id: str, bot_id: str) -> NotionError:
    return NotionError(
        404, "object_not_found", unknown_user_message(user_id), {"integration_id": bot_id}
    )


def bot_not_a_person(user_id: str, name: object) -> NotionError:
    """A bot named where only people may be (mentions, people values); our wording."""
    return validation_error(
        f'User {user_id} is a bot ("{name}"): mentions and people values can only be people.'
    )


CONFLICT_MESSAGE = "Conflict occurred while saving. Please try again."


def conflict_error() -> NotionError:
    """409: the write collided with another one to the same page; nothing was saved."""
    return NotionError(409, "conflict_error", CONFLICT_MESSAGE)


def archived_error() -> NotionError:
    return validation_error(
        "Can't edit block that is archived. You must unarchive the block before editing."
    )


def shown(value: object) -> str:
    """A value the way Notion quotes it inside validation messages (JSON, cut short)."""
    if value is None:
        return "undefined"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def invalid(path: str, expectation: str, value: object) -> NotionError:
    """`body failed validation: <path> should be <expectation>, instead was `<value>`.`"""
    root = path.split(".", 1)[0].split("[", 1)[0]
    return validation_error(
        f"{root} failed validation: {path} should be {expectation}, instead was `{shown(value)}`."
    )


def too_long(path: str, limit: int, actual: int) -> NotionError:
    root = path.split(".", 1)[0].split("[", 1)[0]
    return validation_error(
        f"{root} failed validation: {path}.length should be ≤ `{limit}`, instead was `{actual}`."
    )


def not_present(path: str, value: object) -> NotionError:
    return invalid(path, "not present", value)


def missing(path: str) -> NotionError:
    return invalid(path, "defined", None)


def check_keys(value: dict[str, Any], allowed: Collection[str], path: str) -> None:
    for key, item in value.items():
        if key not in allowed:
            raise not_present(f"{path}.{key}", item)


def require_dict(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(path, "an object", value)
    return value


def require_list(value: object, path: str, max_items: int = 100) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(path, "an array", value)
    if len(value) > max_items:
        raise too_long(path, max_items, len(value))
    return value


def require_str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise invalid(path, "a string", value)
    return value


def require_bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(path, "a boolean", value)
    return value
