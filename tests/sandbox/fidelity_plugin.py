"""Pytest plugin for `make fidelity`: which emulator endpoint each fidelity test exercised, and
what the emulator answered (status and error code), written to one JSON file.

Loaded only by `bench/fidelity.py` (`-p tests.sandbox.fidelity_plugin --fidelity-json F`): it
wraps every served emulator app (`ServedApp`) in an observer, so the emulators themselves know
nothing of it."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from worker.sandbox import server
from worker.sandbox.faults import Message, Receive, Scope, Send, _transport_of

_ID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
_MAX_BODY = 1 << 16


def endpoint(method: str, path: str) -> str | None:
    """'PATCH', '/v1/pages/1f0…' → 'PATCH /v1/pages/{id}'; '/api/chat.update' → 'chat.update'."""
    if path.startswith("/api/"):
        return path[len("/api/") :].strip("/") or None
    if path.startswith("/v1/"):
        parts = ["{id}" if _ID.match(p) else p for p in path.strip("/").split("/")]
        return f"{method} /{'/'.join(parts)}"
    return None


class _Observer:
    """Records (test, endpoint, status, error code) for each answered request."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.test = ""
        self.seen: list[dict[str, Any]] = []

    def wrap(self, app: Any) -> Any:
        observer = self

        async def observed(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            name = endpoint(str(scope["method"]), str(scope["path"]))
            # The fault layer below finds the connection (to drop it) through `send`: hand it
            # on, since `record` below hides it.
            transport = _transport_of(send)
            if transport is not None:
                scope.setdefault("state", {}).setdefault("sandbox.transport", transport)
            status: list[int] = []
            body = bytearray()

            async def record(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status.append(int(message["status"]))
                elif message["type"] == "http.response.body" and len(body) < _MAX_BODY:
                    body.extend(message.get("body", b""))
                await send(message)

            try:
                await app(scope, receive, record)
            finally:
                if name is not None:
                    observer.add(name, status[0] if status else None, _code(bytes(body)))

        return observed

    def add(self, name: str, status: int | None, code: str | None) -> None:
        with self.lock:
            self.seen.append({"test": self.test, "endpoint": name, "status": status, "code": code})


def _code(body: bytes) -> str | None:
    """Notion's `code`, or Slack's `error` of an `ok: false` answer."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if data.get("object") == "error":
        return str(data.get("code"))
    if data.get("ok") is False:
        return str(data.get("error"))
    return None


OBSERVER = _Observer()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fidelity-json", default=None, help="where to write what was observed")


def pytest_configure(config: pytest.Config) -> None:
    original = server.ServedApp.__init__

    def observed_init(self: server.ServedApp, app: Any, *args: Any, **kwargs: Any) -> None:
        original(self, OBSERVER.wrap(app), *args, **kwargs)

    server.ServedApp.__init__ = observed_init  # type: ignore[method-assign]
    del config


# Each test's outcome (a test that failed does not count as a check).
_RESULTS: dict[str, str] = {}


def pytest_runtest_setup(item: pytest.Item) -> None:
    OBSERVER.test = item.nodeid


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _RESULTS[report.nodeid] = report.outcome


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = session.config.getoption("--fidelity-json")
    if not target:
        return
    with OBSERVER.lock:
        seen = list(OBSERVER.seen)
    Path(target).write_text(json.dumps({"requests": seen, "outcomes": _RESULTS}), "utf-8")
