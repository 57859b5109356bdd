"""/healthz and /metrics over HTTP, fed by real polls; `incident-worker serve` as a process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from tests.e2e.harness import Harness, select
from tests.waiting import wait_until
from worker.cli import build_parser
from worker.config import Secret
from worker.errors import ServiceError
from worker.runtime import Runtime
from worker.web import WebServer, create_app

T = TypeVar("T")


class Clock:
    """The time the app reads, moved by the test (no sleeping)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def served(runtime: Runtime, clock: Clock) -> Iterator[httpx.Client]:
    """The app on a real uvicorn server on a free loopback port, and a client for it."""
    app = create_app(runtime.metrics, runtime.health, clock=clock)
    server = WebServer(app, host="127.0.0.1", port=0).start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", trust_env=False) as client:
            yield client
    finally:
        server.stop()


def test_healthz_turns_200_after_a_poll_and_503_when_it_is_stale(h: Harness) -> None:
    clock = Clock()
    with served(h.runtime, clock) as client:
        before = client.get("/healthz")
        h.declare("Aiko", "Checkout API returning 500s", Severity=select("SEV2"))
        h.poll()
        clock.now = datetime.now(UTC)
        ok = client.get("/healthz")
        clock.now += timedelta(seconds=34)
        stale = client.get("/healthz")

    assert before.status_code == 503
    assert before.json()["reason"] == "no poll has run yet"
    assert before.headers["cache-control"] == "no-store"
    assert ok.status_code == 200
    assert ok.json()["status"] == "ok"
    assert ok.json()["role"] == "leader"
    assert ok.json()["max_age_s"] == 33.0  # POLL_INTERVAL=1s: 3 polls of 1 s, and 30 s
    assert stale.status_code == 503
    assert re.fullmatch(
        r"the last successful poll was 3\d s ago \(.+\), more than 33 s", stale.json()["reason"]
    )


def test_healthz_says_why_polls_fail(h: Harness) -> None:
    settings = replace(h.settings(), notion_token=Secret("ntn_not_a_valid_token_at_all"))
    runtime = Runtime.build(settings)
    try:
        with pytest.raises(ServiceError):
            runtime.poll(datetime.now(UTC))
        with served(runtime, Clock()) as client:
            failed = client.get("/healthz")
            metrics = client.get("/metrics").text
        body = failed.json()
        assert failed.status_code == 503
        assert body["reason"].startswith("no successful poll yet: polls failing since ")
        assert "[unauthorized]" in body["reason"]
        assert "ntn_not_a_valid_token_at_all" not in failed.text
        assert "failing_since" in body
        assert 'incident_worker_polls_total{outcome="failed"} 1.0' in metrics
    finally:
        runtime.close()


def test_metrics_in_the_prometheus_and_openmetrics_formats(h: Harness) -> None:
    h.poll()
    with served(h.runtime, Clock()) as client:
        text = client.get("/metrics")
        open_metrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'incident_worker_polls_total{outcome="ok"} 1.0' in text.text
    assert "incident_worker_open_incidents 0.0" in text.text
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.endswith("# EOF\n")


def test_run_takes_a_port_and_serve_defaults_to_port() -> None:
    parser = build_parser()
    assert parser.parse_args(["run"]).port is None
    assert parser.parse_args(["run", "--port", "9100"]).port == 9100
    assert parser.parse_args(["serve"]).port is None  # PORT, read with the settings
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--port", "70000"])


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.slow
def test_serve_polls_answers_healthz_and_stops_on_sigterm(h: Harness, tmp_path: Path) -> None:
    """The web process type: worker loop and HTTP in one process, on the sandbox."""
    env = dict(
        os.environ,
        **h.box.worker_env(h.database_id),
        DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
        NOTION_REQUESTS_PER_SECOND="1000",
        SLACK_POSTS_PER_SECOND="1000",
        POLL_INTERVAL="1s",
    )
    env.pop("PORT", None)  # --port 0 below: any free port, read back from the log
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "worker", "serve", "--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            env=env,
            cwd=tmp_path,
        )
    try:

        def bound_port() -> int | None:
            found = re.search(r"serving /healthz .* on http://[^:]+:(\d+)", log_path.read_text())
            return int(found.group(1)) if found else None

        port = wait_until("the server to listen", bound_port)
        healthz = f"http://127.0.0.1:{port}/healthz"
        wait_until("/healthz to turn 200", lambda: get(healthz)[0] == 200)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert b'incident_worker_polls_total{outcome="ok"}' in response.read()

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, log_path.read_text()
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
