"""Fault scope: a benchmark faults the worker (the bots' tokens) and not the people; faults can
be switched off and on while the sandbox runs; the request log never holds a token."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.waiting import wait_until
from worker.cli import build_parser
from worker.sandbox import Sandbox, SandboxOptions
from worker.sandbox.notion.limits import NotionLimits
from worker.sandbox.ratelimit import RateLimit


def _options(scope: str) -> SandboxOptions:
    return SandboxOptions(
        fault_rate=1.0,
        fault_scope=scope,  # type: ignore[arg-type]
        slow_fault_s=0.3,
        notion_limits=NotionLimits.off(),
        slack_post_rate=RateLimit(0, 0),
        slack_tier_limits=False,
    )


def _notion_me(box: Sandbox, token: str) -> str:
    headers = {"Authorization": f"Bearer {token}", "Notion-Version": "2025-09-03"}
    try:
        with httpx.Client(timeout=0.2) as client:
            return str(
                client.get(box.notion_base_url + "/v1/users/me", headers=headers).status_code
            )
    except httpx.TransportError:  # a dropped connection or a slow answer
        return "no answer"


def _slack_auth(box: Sandbox, token: str) -> str:
    try:
        with httpx.Client(timeout=0.2) as client:
            response = client.post(
                box.slack_base_url + "auth.test", headers={"Authorization": f"Bearer {token}"}
            )
        return str(response.status_code)
    except httpx.TransportError:
        return "no answer"


def test_bot_scope_faults_only_the_worker() -> None:
    with Sandbox(_options("bot")) as box:
        ben = box.workspace.person("Ben")
        for _ in range(5):
            assert _notion_me(box, ben.notion_token) == "200"
            assert _slack_auth(box, ben.slack_token) == "200"
            assert _notion_me(box, box.workspace.notion_token) != "200"
            assert _slack_auth(box, box.workspace.slack_token) != "200"
        # A slow fault is logged once its late answer is sent.
        wait_until("every request logged", lambda: len(box.notion_log.entries()) >= 10, timeout_s=5)
        assert sum(1 for e in box.notion_log.entries() if e.get("fault")) == 5
        log = json.dumps(box.notion_log.entries() + box.slack_log.entries())
        for token in (ben.notion_token, ben.slack_token, box.workspace.notion_token):
            assert token not in log


def test_all_scope_faults_everyone_and_faults_can_be_switched_off() -> None:
    with Sandbox(_options("all")) as box:
        assert _notion_me(box, box.workspace.person("Ben").notion_token) != "200"
        box.set_fault_rate(0.0)
        assert _notion_me(box, box.workspace.notion_token) == "200"
        with pytest.raises(ValueError, match="between 0 and 1"):
            box.set_fault_rate(1.5)


def test_an_unknown_scope_is_refused() -> None:
    with pytest.raises(ValueError, match="fault scope"):
        Sandbox(SandboxOptions(fault_scope="people"))  # type: ignore[arg-type]


def test_the_sandbox_command_takes_a_fault_scope() -> None:
    args = build_parser().parse_args(["sandbox", "--fault-rate", "0.2", "--fault-scope", "bot"])
    assert (args.fault_rate, args.fault_scope) == (0.2, "bot")
    assert build_parser().parse_args(["sandbox"]).fault_scope == "all"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sandbox", "--fault-scope", "people"])


def test_the_sandbox_command_takes_a_conflict_window() -> None:
    args = build_parser().parse_args(["sandbox", "--conflict-window", "1.5"])
    assert args.conflict_window == 1.5
    assert build_parser().parse_args(["sandbox"]).conflict_window == 0.0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sandbox", "--conflict-window", "-1"])
    with Sandbox(SandboxOptions(notion_conflict_window_s=1.5)) as box:
        assert box.notion.conflicts.window_s == 1.5


def test_answer_tap_hears_the_bots_requests_once_carried_out() -> None:
    options = SandboxOptions(fault_scope="bot", notion_limits=NotionLimits.off())
    with Sandbox(options) as box:
        heard: list[tuple[str, str]] = []
        box.tap_answers(lambda method, path: heard.append((method, path)))
        assert _notion_me(box, box.workspace.person("Ben").notion_token) == "200"
        assert _notion_me(box, box.workspace.notion_token) == "200"
        box.tap_answers(None)
        assert _notion_me(box, box.workspace.notion_token) == "200"
        assert heard == [("GET", "/v1/users/me")]
