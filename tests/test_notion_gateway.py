"""Notion gateway: errors classified by their real codes, transient ones retried."""

from __future__ import annotations

import httpx
import pytest
from notion_client.errors import APIResponseError, build_request_error

from worker.config import Settings
from worker.errors import ServiceError
from worker.notion import NotionGateway, _is_transient, as_service_error


def _error(status: int, code: str) -> APIResponseError:
    """The error notion-client itself builds from Notion's answer."""
    body = {"object": "error", "status": status, "code": code, "message": "m", "request_id": "r-1"}
    response = httpx.Response(status, json=body, request=httpx.Request("POST", "http://x/v1/pages"))
    error = build_request_error(response, response.text)
    assert isinstance(error, APIResponseError)
    return error


@pytest.mark.parametrize(
    ("status", "code", "transient"),
    [
        (429, "rate_limited", True),
        (500, "internal_server_error", True),
        (503, "service_unavailable", True),
        (504, "gateway_timeout", True),
        (409, "conflict_error", True),
        (400, "validation_error", False),
        (404, "object_not_found", False),
        (401, "unauthorized", False),
    ],
)
def test_codes_are_compared_by_value(status: int, code: str, transient: bool) -> None:
    error = _error(status, code)
    assert _is_transient(error) is transient
    assert as_service_error("pages.create", error, write=False).code == code


def test_not_found_says_to_share_the_database() -> None:
    error = as_service_error("databases.retrieve", _error(404, "object_not_found"), write=False)
    assert "shared with the integration" in str(error)
    assert "request id r-1" in str(error)


def test_a_failed_write_has_an_unknown_outcome_unless_it_was_rate_limited() -> None:
    assert as_service_error(
        "pages.create", _error(500, "internal_server_error"), write=True
    ).outcome_unknown
    assert not as_service_error(
        "pages.create", _error(429, "rate_limited"), write=True
    ).outcome_unknown


def test_a_conflict_means_nothing_was_saved() -> None:
    """409 conflict_error: the write collided with another and Notion saved nothing
    (tests/sandbox/test_notion_conflicts.py), so a create need not be looked for."""
    error = as_service_error("pages.create", _error(409, "conflict_error"), write=True)
    assert error.retryable
    assert not error.outcome_unknown


def _gateway() -> NotionGateway:
    settings = Settings.from_env({"NOTION_TOKEN": "ntn_test"}, require_workspace=False)
    return NotionGateway(None, settings)  # type: ignore[arg-type]


def _answers(*outcomes: Exception | dict[str, str]):  # type: ignore[no-untyped-def]
    sent: list[int] = []

    def send() -> dict[str, str]:
        outcome = outcomes[len(sent)]
        sent.append(1)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return send, sent


def test_a_create_that_met_a_conflict_is_sent_again_at_once() -> None:
    send, sent = _answers(_error(409, "conflict_error"), {"id": "p-1"})
    assert _gateway().call("pages.create", send, idempotent=False) == {"id": "p-1"}
    assert len(sent) == 2


def test_a_create_that_met_a_server_error_is_not_sent_again() -> None:
    """A 500 may come after the page was made: only the caller can look and decide."""
    send, sent = _answers(_error(500, "internal_server_error"), {"id": "p-1"})
    with pytest.raises(ServiceError) as caught:
        _gateway().call("pages.create", send, idempotent=False)
    assert caught.value.outcome_unknown
    assert len(sent) == 1
