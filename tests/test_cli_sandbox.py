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
            "slack_app_token",
            "slack_signing_secret",
            "slack_guest",
        }
        assert info["slack_app_token"].startswith("xapp-1-")
        assert len(info["slack_signing_secret"]) == 32
        assert {"name", "email", "slack_id", "team_id", "slack_token"} == set(info["slack_guest"])
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


def test_sandbox_posts_events_signed_to_the_events_url() -> None:
    from slack_sdk import WebClient
    from slack_sdk.signature import SignatureVerifier
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from worker.sandbox.server import ServedApp

    arrived: list[tuple[bytes, dict[str, str]]] = []

    async def events(request: Request) -> Response:
        arrived.append((await request.body(), dict(request.headers)))
        return Response(status_code=200)

    receiver = ServedApp(Starlette(routes=[Route("/slack/events", events, methods=["POST"])]))
    receiver.start()
    url = receiver.url + "/slack/events"
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker", "sandbox", "--events-url", url],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        bot = WebClient(token=info["slack_token"], base_url=info["slack_base_url"])
        bot.conversations_join(channel=info["slack_channel_id"])
        person = WebClient(token=info["users"][0]["slack_token"], base_url=info["slack_base_url"])
        person.chat_postMessage(channel=info["slack_channel_id"], text="hello, worker")
        deadline = time.monotonic() + 10
        while not arrived and time.monotonic() < deadline:
            time.sleep(0.05)
        body, headers = arrived[0]
        assert SignatureVerifier(info["slack_signing_secret"]).is_valid_request(body, headers)
        assert json.loads(body)["event"]["text"] == "hello, worker"
    finally:
        proc.kill()
        proc.wait()
        receiver.stop()
