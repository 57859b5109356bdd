"""`incident-worker sandbox` prints one JSON line and stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request


def test_sandbox_prints_one_json_line_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker", "sandbox", "--seed", "7"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert set(info) == {
            "notion_base_url",
            "notion_token",
            "slack_base_url",
            "slack_token",
            "parent_page_id",
            "slack_channel_id",
            "users",
        }
        assert not info["notion_base_url"].endswith("/")
        assert info["slack_base_url"].endswith("/api/")
        assert {"name", "email", "notion_id", "slack_id", "notion_token", "slack_token"} == set(
            info["users"][0]
        )
        with urllib.request.urlopen(info["notion_base_url"] + "/_sandbox/requests") as resp:
            assert json.loads(resp.read()) == []
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - started < 5
    finally:
        proc.kill()
        proc.wait()


def test_sandbox_flags_shorten_notions_windows_for_a_test_run() -> None:
    from worker.cli import build_parser, sandbox_options
    from worker.sandbox import NotionLimits, WindowLimit

    flags = ["--notion-budget", "5", "--notion-window", "2", "--notion-workspace-budget", "0"]
    args = build_parser().parse_args(["sandbox", *flags])
    assert sandbox_options(args).notion_limits == NotionLimits(
        connection=WindowLimit(5, 2.0), workspace=WindowLimit(0, 300.0)
    )
    defaults = sandbox_options(build_parser().parse_args(["sandbox"]))
    assert defaults.notion_limits == NotionLimits()
