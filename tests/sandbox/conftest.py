"""Notion emulator fixtures: one loopback server per session, a fresh emulator per test."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from notion_client import Client

from worker.sandbox.faults import Receive, Scope, Send
from worker.sandbox.notion import NotionEmulator
from worker.sandbox.notion.limits import NotionLimits
from worker.sandbox.server import ServedApp
from worker.sandbox.workspace import Workspace, make_workspace

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

# The Incidents schema of PRODUCT.md, as `setup` would create it.
NOTION_INCIDENT_PROPERTIES: dict[str, Any] = {
    "Name": {"title": {}},
    "Status": {"status": {}},
    "Severity": {"select": {"options": [{"name": f"SEV{n}"} for n in range(1, 5)]}},
    "Commander": {"people": {}},
    "Impact": {"rich_text": {}},
    "Declared at": {"date": {}},
    "Slack thread": {"url": {}},
}


class NotionClock:
    """A settable clock for the emulator (the tests read time in one place)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class _Switch:
    """An ASGI app that forwards to whichever emulator the current test made."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@dataclass
class NotionSandbox:
    emulator: NotionEmulator
    workspace: Workspace
    base_url: str
    clock: NotionClock
    clients: dict[Any, Client] = field(default_factory=dict)

    def token(self, who: str | None = None) -> str:
        return (
            self.workspace.notion_token if who is None else self.workspace.person(who).notion_token
        )

    def client(self, who: str | None = None, **options: Any) -> Client:
        """notion-client as the integration (None) or as a person (name, first name, email)."""
        key = (who, tuple(sorted(options.items())))
        if key not in self.clients:
            options.setdefault("logger", logging.getLogger("tests.notion_sdk"))
            self.clients[key] = Client(auth=self.token(who), base_url=self.base_url, **options)
        return self.clients[key]

    def raw(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        who: str | None = None,
    ) -> httpx.Response:
        """A hand-built request, for what the SDK cannot send (bad JSON, no version...)."""
        sent = {"Authorization": f"Bearer {self.token(who)}", "Notion-Version": "2025-09-03"}
        sent.update(headers or {})
        sent = {k: v for k, v in sent.items() if v}
        with httpx.Client(base_url=self.base_url, timeout=30) as http:
            return http.request(method, path, json=body, content=content, headers=sent)

    def create_incidents(self, client: Client | None = None, **properties: Any) -> tuple[str, str]:
        """The Incidents database under the parent page: (database id, data source id)."""
        database = (client or self.client()).databases.create(
            parent={"type": "page_id", "page_id": self.workspace.parent_page_id},
            title=[{"type": "text", "text": {"content": "Incidents"}}],
            initial_data_source={"properties": {**NOTION_INCIDENT_PROPERTIES, **properties}},
        )
        return database["id"], database["data_sources"][0]["id"]


@pytest.fixture(scope="session")
def notion_server() -> Iterator[tuple[ServedApp, _Switch]]:
    switch = _Switch()
    served = ServedApp(switch)
    # ServedApp's socket is created with proto 0, so asyncio does not set TCP_NODELAY on the
    # accepted connections and every response waits ~40 ms for a delayed ACK. Setting it on
    # the listening socket (inherited on Linux) makes a request take well under 1 ms.
    served._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    served.start()
    yield served, switch
    served.stop()


@pytest.fixture
def notion_clock() -> NotionClock:
    return NotionClock(datetime(2026, 7, 4, 9, 9, 12, 345000, tzinfo=UTC))


@pytest.fixture
def notion_sandbox(
    notion_server: tuple[ServedApp, _Switch], notion_clock: NotionClock
) -> NotionSandbox:
    """A fresh emulator (rate limit off, settable clock) behind the session's server."""
    served, switch = notion_server
    workspace = make_workspace(0)
    emulator = NotionEmulator(workspace, limits=NotionLimits.off(), clock=notion_clock)
    switch.app = emulator.app
    return NotionSandbox(emulator, workspace, served.url, notion_clock)
