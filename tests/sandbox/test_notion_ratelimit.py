"""Notion emulator: today's rate limits, answered the way Notion documents them.

Source: Notion's "Request limits" page, https://developers.notion.com/reference/request-limits
(the revision summarised in ../shared/reference/notion/notion-api.md §4 "Rate limits"):

  "The Notion API enforces two rate limits: a per-connection limit and a per-workspace limit."
  "Each connection has a fixed budget of requests per 60-second window, based on the
  workspace's plan [...] The budget can be spent at any pace within the window — spread out
  evenly or in a single burst. When a request exceeds this limit, the Retry-After value is the
  time until the window resets, so it is at most 60 seconds."
  "A separate limit is shared across all of the workspace's connections and scaled to the
  workspace's plan. Because it's shared, requests can be rate limited even when each individual
  connection is within its per-connection limit. Retry-After for this limit can be longer than
  a minute."
  "Requests that exceed a limit return a "rate_limited" error code and an HTTP 429 response.
  additional_data.rate_limit_reason says which limit was exceeded [...] The header value is an
  integer number of seconds."

The two reason values are named by the page's previous revision: "additional_data.
rate_limit_reason indicating which limit was exceeded (for example,
public_api_request_rate_limit or public_api_space_request_rate_limit)". The message is the one
real Notion sends (body quoted in issue 2anki/2anki.net #1522).

Assumptions, because Notion publishes no numbers for them: a connection's budget is 180
requests per window (the old "average of three requests per second"); the workspace allows
1,500 requests per 5-minute window; a window opens with the first request after the previous
one ended; a refused request spends no budget. Each is a knob (`NotionLimits`).
"""

from __future__ import annotations

import time

import httpx
import pytest
from notion_client import APIResponseError, Client

from tests.sandbox.conftest import NotionSandbox
from worker.sandbox import Sandbox, SandboxOptions
from worker.sandbox.notion.limits import (
    CONNECTION_LIMIT_REASON,
    WORKSPACE_LIMIT_REASON,
    NotionLimits,
)
from worker.sandbox.ratelimit import FixedWindows, WindowLimit

MESSAGE = "You have been rate limited. Please try again in a few minutes."


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _me(base_url: str, token: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Notion-Version": "2025-09-03"}
    return httpx.get(f"{base_url}/v1/users/me", headers=headers, timeout=10)


@pytest.fixture
def limited(notion_sandbox: NotionSandbox) -> tuple[NotionSandbox, Ticks]:
    """The test's emulator with its rate limits on and a hand-moved clock."""
    ticks = Ticks()
    notion_sandbox.emulator.limiter.clock = ticks
    return notion_sandbox, ticks


def _spend(box: NotionSandbox, count: int, who: str | None = None) -> None:
    for n in range(count):
        answer = _me(box.base_url, box.token(who))
        assert answer.status_code == 200, f"request {n + 1} of {count}: {answer.text}"


def test_a_connection_may_spend_its_whole_minute_budget_in_one_burst(sandbox: Sandbox) -> None:
    # The default sandbox: 180 requests per 60-second window (an assumption: the plan tables
    # are not published). A token bucket with a burst of 10 refused the 11th request here.
    base, token = sandbox.notion_base_url, sandbox.workspace.notion_token
    started = time.monotonic()
    for n in range(180):
        answer = _me(base, token)
        assert answer.status_code == 200, f"request {n + 1}: {answer.status_code} {answer.text}"
    refused = _me(base, token)
    assert refused.status_code == 429
    # "the Retry-After value is the time until the window resets, so it is at most 60 seconds"
    waited = time.monotonic() - started
    assert 60 - waited - 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["additional_data"] == {"rate_limit_reason": CONNECTION_LIMIT_REASON}


def test_a_refusal_names_the_connection_limit_and_waits_until_the_window_resets(
    limited: tuple[NotionSandbox, Ticks],
) -> None:
    box, ticks = limited
    box.emulator.set_limits(NotionLimits(connection=WindowLimit(5, 60.0)))
    _spend(box, 5)
    ticks.now += 0.4
    refused = _me(box.base_url, box.token())
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "60"  # 59.6 s left: whole seconds, rounded up
    request_id = refused.headers["x-notion-request-id"]
    assert refused.json() == {
        "object": "error",
        "status": 429,
        "code": "rate_limited",
        "message": MESSAGE,
        "additional_data": {"rate_limit_reason": CONNECTION_LIMIT_REASON},
        "request_id": request_id,
    }
    ticks.now += 45.0
    assert _me(box.base_url, box.token()).headers["retry-after"] == "15"
    ticks.now += 14.6  # the window that opened at the first request is over
    _spend(box, 5)
    assert _me(box.base_url, box.token()).status_code == 429


def test_notion_client_exposes_the_reason_as_additional_data(
    limited: tuple[NotionSandbox, Ticks],
) -> None:
    box, _ticks = limited
    box.emulator.set_limits(NotionLimits(connection=WindowLimit(1, 60.0)))
    client = box.client(retry=False)
    client.users.me()
    with pytest.raises(APIResponseError) as caught:
        client.users.me()
    assert caught.value.code == "rate_limited"
    assert caught.value.additional_data == {"rate_limit_reason": CONNECTION_LIMIT_REASON}
    assert caught.value.headers["retry-after"] == "60"


def test_the_workspace_limit_is_shared_by_every_connection_and_may_ask_for_minutes(
    limited: tuple[NotionSandbox, Ticks],
) -> None:
    box, ticks = limited
    box.emulator.set_limits(
        NotionLimits(connection=WindowLimit(10, 60.0), workspace=WindowLimit(15, 300.0))
    )
    _spend(box, 10)  # the integration: its whole connection budget
    _spend(box, 5, who="Aiko")  # another connection, well within its own
    refused = _me(box.base_url, box.token("Aiko"))
    assert refused.status_code == 429
    assert refused.json()["additional_data"] == {"rate_limit_reason": WORKSPACE_LIMIT_REASON}
    assert refused.headers["retry-after"] == "300"  # "can be longer than a minute"
    # The integration's own limit is the one it is told about (checked first).
    assert _me(box.base_url, box.token()).json()["additional_data"] == {
        "rate_limit_reason": CONNECTION_LIMIT_REASON
    }
    ticks.now += 60.0  # the connections' windows reset; the workspace's has 240 s to go
    answer = _me(box.base_url, box.token())
    assert answer.status_code == 429
    assert answer.json()["additional_data"] == {"rate_limit_reason": WORKSPACE_LIMIT_REASON}
    assert answer.headers["retry-after"] == "240"
    ticks.now += 240.0
    _spend(box, 10)


def test_a_refused_request_spends_no_budget(limited: tuple[NotionSandbox, Ticks]) -> None:
    # An assumption (Notion does not say): asking again early is pointless, not punished.
    box, ticks = limited
    box.emulator.set_limits(NotionLimits(connection=WindowLimit(2, 10.0)))
    _spend(box, 2)
    for _ in range(5):
        assert _me(box.base_url, box.token()).status_code == 429
    ticks.now += 10.0
    _spend(box, 2)


def test_a_test_may_use_up_a_budget_as_other_requests_would(
    limited: tuple[NotionSandbox, Ticks],
) -> None:
    box, ticks = limited
    box.emulator.set_limits(NotionLimits(connection=WindowLimit(50, 60.0)))
    _spend(box, 1)
    ticks.now += 20.0
    box.emulator.use_up_budget(box.token())
    assert _me(box.base_url, box.token()).headers["retry-after"] == "40"
    box.emulator.use_up_budget()  # the workspace's: everybody waits
    assert _me(box.base_url, box.token("Aiko")).json()["additional_data"] == {
        "rate_limit_reason": WORKSPACE_LIMIT_REASON
    }


def test_helpers_and_admin_routes_are_never_limited(limited: tuple[NotionSandbox, Ticks]) -> None:
    box, _ticks = limited
    box.emulator.set_limits(NotionLimits(connection=WindowLimit(1, 60.0)))
    _spend(box, 1)
    page = box.workspace.parent_page_id
    for _ in range(3):
        assert box.raw("POST", "/_sandbox/share", body={"id": page}, who=None).json() == {
            "ok": True
        }


def test_sandbox_options_shorten_the_windows_for_tests() -> None:
    limits = NotionLimits(connection=WindowLimit(3, 2.0), workspace=WindowLimit(0, 0.0))
    with Sandbox(SandboxOptions(notion_limits=limits)) as box:
        _spend_box(box, 3)
        refused = _me(box.notion_base_url, box.workspace.notion_token)
        assert refused.status_code == 429
        wait_s = int(refused.headers["retry-after"])
        assert 1 <= wait_s <= 2
        time.sleep(wait_s)
        _spend_box(box, 3)


def _spend_box(box: Sandbox, count: int) -> None:
    for _ in range(count):
        assert _me(box.notion_base_url, box.workspace.notion_token).status_code == 200


def test_a_zero_budget_switches_a_limit_off(notion_sandbox: NotionSandbox) -> None:
    notion_sandbox.emulator.set_limits(NotionLimits.off())
    client = notion_sandbox.client(retry=False)
    for _ in range(30):
        client.users.me()


def test_the_default_limits_are_the_documented_shape_with_assumed_numbers() -> None:
    limits = NotionLimits()
    assert limits.connection == WindowLimit(180, 60.0)
    assert limits.workspace == WindowLimit(1_500, 300.0)


def test_notion_client_waits_out_a_short_window_by_itself() -> None:
    limits = NotionLimits(connection=WindowLimit(1, 1.0), workspace=WindowLimit(0, 0.0))
    with Sandbox(SandboxOptions(notion_limits=limits)) as box:
        client = Client(auth=box.workspace.notion_token, base_url=box.notion_base_url)
        started = time.monotonic()
        client.users.me()
        assert client.users.me()["type"] == "bot"  # after a 429 with Retry-After: 1
        assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("spent_at", "asked_at", "wait_s"),
    [
        ([0.0, 0.0, 0.0], 0.0, 60),  # a burst: the window opened at 0 resets at 60
        ([0.0, 10.0, 59.0], 59.2, 1),  # whole seconds, rounded up, at least 1
        ([0.0, 10.0], 59.9, 0),  # budget left
        ([0.0, 10.0, 20.0], 60.0, 0),  # the window is over: a new one opens
        ([5.0, 70.0, 71.0, 72.0], 73.0, 57),  # the second window opened at 70
    ],
)
def test_fixed_windows_open_at_the_first_request_and_reset_whole(
    spent_at: list[float], asked_at: float, wait_s: int
) -> None:
    windows = FixedWindows(WindowLimit(3, 60.0))
    for moment in spent_at:
        windows.spend("t", moment)
    assert windows.wait_s("t", asked_at) == wait_s
    assert windows.wait_s("another", asked_at) == 0
