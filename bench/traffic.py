"""Benchmarks: every request the sandbox answers, with who made it (the worker or a person),
its status and when — so requests are counted per kind, 429s found and stretches timed from
the services' side, never from the worker's own counters."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from worker.sandbox import Sandbox

Service = Literal["notion", "slack"]
Scope = dict[str, Any]

_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
# A poll: the query for rows edited since the cursor (one per idle poll and database).
POLL_KIND = "POST /v1/data_sources/{id}/query"


@dataclass(frozen=True)
class Request:
    service: Service
    kind: str  # Notion: "METHOD /path/{id}"; Slack: the method name ("chat.postMessage")
    status: int
    at: float  # time.monotonic() when the answer started
    worker: bool  # made with the integration's or the bot's token (else: a person's)

    @property
    def is_poll(self) -> bool:
        return self.service == "notion" and self.kind == POLL_KIND


def kind_of(service: Service, method: str, path: str) -> str:
    if service == "slack":
        return path.rsplit("/", 1)[-1]
    return f"{method} {_ID.sub('{id}', path)}"


class Traffic:
    """Records the requests both emulators answer (installed inside the sandbox's own request
    log, so it sees what the log sees, plus the token's owner and the time).

    The sandbox wraps each emulator as log → faults → answer tap → emulator; the recorder goes
    between the tap and the emulator (the emulator answers 429 itself, so those are seen).
    """

    def __init__(self, box: Sandbox) -> None:
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._polls = 0
        notion, slack = box.taps
        notion.app = _Recorder(notion.app, "notion", box.workspace.notion_token, self._add)
        slack.app = _Recorder(slack.app, "slack", box.workspace.slack_token, self._add)

    def _add(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)
            if request.worker and request.is_poll:
                self._polls += 1

    @property
    def polls(self) -> int:
        """The worker's polls so far (its queries for changed rows)."""
        with self._lock:
            return self._polls

    def mark(self) -> int:
        with self._lock:
            return len(self._requests)

    def since(self, mark: int = 0, until: int | None = None) -> list[Request]:
        with self._lock:
            return self._requests[mark:until]

    def last_worker_request_at(self, mark: int = 0, *, polls: bool = False) -> float | None:
        """When the worker's last request since `mark` was answered (polls left out unless
        asked for): when its work ended."""
        for request in reversed(self.since(mark)):
            if request.worker and (polls or not request.is_poll):
                return request.at
        return None

    def clear(self) -> None:
        """Forget the requests so far (a long run); the poll count goes on."""
        with self._lock:
            self._requests.clear()


class _Recorder:
    def __init__(
        self, app: Any, service: Service, bot_token: str, add: Callable[[Request], None]
    ) -> None:
        self.app = app
        self.service: Service = service
        self.bot = f"Bearer {bot_token}".encode()
        self.add = add

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        worker = headers.get(b"authorization") == self.bot
        kind = kind_of(self.service, str(scope["method"]), str(scope["path"]))

        async def answer(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.add(
                    Request(self.service, kind, int(message["status"]), time.monotonic(), worker)
                )
            await send(message)

        await self.app(scope, receive, answer)


# --- reading a stretch of requests -------------------------------------------------------


def worker_requests(requests: Iterable[Request], service: Service) -> list[Request]:
    return [r for r in requests if r.worker and r.service == service]


def kinds(requests: Iterable[Request], *, polls: bool = False) -> Counter[str]:
    """Requests per kind (polls left out unless asked for)."""
    return Counter(r.kind for r in requests if polls or not r.is_poll)


def count_429(requests: Iterable[Request], service: Service) -> int:
    return sum(1 for r in requests if r.service == service and r.status == 429)


def per_unit(counts: Counter[str], units: int) -> str:
    """'PATCH /v1/pages/{id} 1, POST /v1/pages 1' — counts divided by `units`, largest first."""
    if not counts:
        return "none"
    return ", ".join(f"{kind} {n / units:.3g}" for kind, n in counts.most_common())


def rate_trail(
    requests: list[Request], start: float, end: float, window_s: float = 30.0
) -> list[tuple[int, int]]:
    """(Notion requests, Slack calls) the worker made in each `window_s` from `start`."""
    windows = max(1, int((end - start) // window_s) + 1)
    trail = [(0, 0)] * windows
    for r in requests:
        if not r.worker or r.at < start or r.at > end:
            continue
        i = min(windows - 1, int((r.at - start) // window_s))
        notion, slack = trail[i]
        trail[i] = (notion + (r.service == "notion"), slack + (r.service == "slack"))
    return trail
