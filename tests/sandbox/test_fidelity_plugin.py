"""The `make fidelity` observer: endpoints named the way the coverage table names them."""

from __future__ import annotations

import json

import pytest

from tests.sandbox.fidelity_plugin import _code, endpoint


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("PATCH", "/v1/pages/1f0c1d2e-3a4b-4c5d-8e6f-0123456789ab", "PATCH /v1/pages/{id}"),
        (
            "GET",
            "/v1/blocks/1f0c1d2e3a4b4c5d8e6f0123456789ab/children",
            "GET /v1/blocks/{id}/children",
        ),
        (
            "POST",
            "/v1/data_sources/1f0c1d2e-3a4b-4c5d-8e6f-0123456789ab/query",
            "POST /v1/data_sources/{id}/query",
        ),
        ("GET", "/v1/users/me", "GET /v1/users/me"),
        ("POST", "/api/chat.postMessage", "chat.postMessage"),
        ("GET", "/_sandbox/requests", None),
    ],
)
def test_endpoints_are_named_by_route(method: str, path: str, name: str | None) -> None:
    assert endpoint(method, path) == name


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"object": "error", "status": 409, "code": "conflict_error"}, "conflict_error"),
        ({"ok": False, "error": "invalid_blocks"}, "invalid_blocks"),
        ({"ok": True}, None),
        ({"object": "page"}, None),
    ],
)
def test_error_codes_are_read_from_either_service(
    body: dict[str, object], code: str | None
) -> None:
    assert _code(json.dumps(body).encode()) == code


def test_a_body_that_is_not_json_has_no_code() -> None:
    assert _code(b"<html>502 Bad Gateway</html>") is None
