"""Sandbox: reproducible fault injection, the ways the real Notion and Slack APIs fail.

An ASGI middleware in front of each emulator. For each request it draws (from a seeded
generator) whether to fail and how. Some faults happen *after* the emulator carried the
request out (the outcome is then unknown to the client), which is what exactly-once
delivery has to survive.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from worker.sandbox.notion.errors import CONFLICT_MESSAGE

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class FaultKind(Enum):
    RATE_LIMITED = "rate_limited"
    INTERNAL_ERROR = "500"
    BAD_GATEWAY = "502"
    UNAVAILABLE = "503"
    GATEWAY_TIMEOUT = "504"
    OVERLOADED = "529"
    CONFLICT = "conflict"
    RESET = "reset"
    SLOW = "slow"


NOTION_FAULTS = (
    FaultKind.RATE_LIMITED,
    FaultKind.INTERNAL_ERROR,
    FaultKind.BAD_GATEWAY,
    FaultKind.UNAVAILABLE,
    FaultKind.GATEWAY_TIMEOUT,
    FaultKind.OVERLOADED,
    FaultKind.CONFLICT,
    FaultKind.RESET,
    FaultKind.SLOW,
)
SLACK_FAULTS = (
    FaultKind.RATE_LIMITED,
    FaultKind.INTERNAL_ERROR,
    FaultKind.UNAVAILABLE,
    FaultKind.RESET,
)


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    # True: the emulator carries the request out first, then the client sees the failure.
    after_effect: bool


def _share(rate: float) -> float:
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"fault rate must be between 0 and 1, got {rate}")
    return rate


class FaultPlan:
    """Draws faults for one emulator at `rate` (0..1), reproducibly for a given seed."""

    def __init__(self, rate: float, seed: int, kinds: tuple[FaultKind, ...]) -> None:
        self.rate = _share(rate)
        self.kinds = kinds
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def set_rate(self, rate: float) -> None:
        """Change the rate from now on (the draws stay reproducible for a given sequence)."""
        self.rate = _share(rate)

    def draw(self, fits: Callable[[FaultKind], bool] | None = None) -> Fault | None:
        """A fault or None; only kinds that `fits` the request are drawn (a read cannot
        conflict), so a rate of 1 still fails every request that some kind fits."""
        if self.rate <= 0.0:
            return None
        kinds = [k for k in self.kinds if fits is None or fits(k)]
        with self._lock:
            if self._rng.random() >= self.rate or not kinds:
                return None
            kind = self._rng.choice(kinds)
            coin = self._rng.random() < 0.5
        if kind in (FaultKind.RATE_LIMITED, FaultKind.CONFLICT):
            return Fault(kind, after_effect=False)  # both mean "not carried out"
        if kind is FaultKind.SLOW:
            return Fault(kind, after_effect=True)
        return Fault(kind, after_effect=coin)


def _json_response(
    status: int, body: dict[str, Any], headers: dict[str, str]
) -> tuple[int, bytes, dict[str, str]]:
    data = json.dumps(body).encode()
    return status, data, {"content-type": "application/json; charset=utf-8", **headers}


def notion_fault_response(kind: FaultKind) -> tuple[int, bytes, dict[str, str]]:
    """The status, body and headers Notion answers with for each fault."""
    request_id = str(uuid.uuid4())

    def error(
        status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        body = {
            "object": "error",
            "status": status,
            "code": code,
            "message": message,
            "request_id": request_id,
        }
        return _json_response(status, body, {"x-notion-request-id": request_id, **(headers or {})})

    if kind is FaultKind.RATE_LIMITED:
        return error(
            429,
            "rate_limited",
            "You have been rate limited. Please try again in a few minutes.",
            {"retry-after": "1"},
        )
    if kind is FaultKind.INTERNAL_ERROR:
        return error(500, "internal_server_error", "Unexpected error occurred.")
    if kind is FaultKind.UNAVAILABLE:
        return error(503, "service_unavailable", "Notion is unavailable, please try again later.")
    if kind is FaultKind.GATEWAY_TIMEOUT:
        return error(504, "gateway_timeout", "Notion timed out while processing the request.")
    if kind is FaultKind.OVERLOADED:
        return error(
            529,
            "service_overload",
            "Notion is overloaded, please try again later.",
            {"retry-after": "1"},
        )
    if kind is FaultKind.CONFLICT:
        return error(409, "conflict_error", CONFLICT_MESSAGE)
    # 502 comes from the load balancer: HTML, no Notion error body.
    html = (
        b"<html><head><title>502 Bad Gateway</title></head>"
        b"<body><center><h1>502 Bad Gateway</h1></center></body></html>"
    )
    return 502, html, {"content-type": "text/html"}


def slack_fault_response(kind: FaultKind) -> tuple[int, bytes, dict[str, str]]:
    """The status, body and headers Slack answers with for each fault."""
    request_id = {"x-slack-req-id": str(uuid.uuid4())}
    if kind is FaultKind.RATE_LIMITED:
        headers = {"retry-after": "1", **request_id}
        return _json_response(429, {"ok": False, "error": "ratelimited"}, headers)
    if kind is FaultKind.INTERNAL_ERROR:
        return _json_response(500, {"ok": False, "error": "internal_error"}, request_id)
    return 503, b"<html><body>503 Service Unavailable</body></html>", {"content-type": "text/html"}


FaultRenderer = Callable[[FaultKind], tuple[int, bytes, dict[str, str]]]
# Whether a kind of fault can happen to a request (the plan draws among those that can).
FaultFits = Callable[[FaultKind, "Scope"], bool]


def any_fault_fits(kind: FaultKind, scope: Scope) -> bool:
    del kind, scope
    return True


def notion_fault_fits(kind: FaultKind, scope: Scope) -> bool:
    """Conflicts happen to writes only: a GET, a data source query or a search reads."""
    if kind is not FaultKind.CONFLICT:
        return True
    method, path = str(scope.get("method", "")), str(scope.get("path", ""))
    if method == "POST":
        return not (path.endswith("/query") or path == "/v1/search")
    return method in ("PATCH", "DELETE")


async def _send_response(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
    raw_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def _transport_of(send: Send) -> Any:
    """uvicorn's `send` is a method of its request cycle, which owns the TCP transport."""
    return getattr(getattr(send, "__self__", None), "transport", None)


def _abort_connection(scope: Scope, send: Send) -> bool:
    """Drop the TCP connection without an answer."""
    transport = scope.get("state", {}).get("sandbox.transport") or _transport_of(send)
    if transport is None:
        return False
    transport.abort()
    return True


FaultScope = Callable[[Scope], bool]


def everyone(scope: Scope) -> bool:
    """The default fault scope: every request may fail."""
    del scope
    return True


def bearer_only(*tokens: str) -> FaultScope:
    """A fault scope for requests authorised with one of `tokens` (say, the bots'), so that a
    benchmark faults the worker and not the people acting in the emulated workspace."""
    wanted = {f"Bearer {token}".encode() for token in tokens if token}

    def applies(scope: Scope) -> bool:
        headers = dict(scope.get("headers") or ())
        return headers.get(b"authorization") in wanted

    return applies


class FaultMiddleware:
    """Wraps an emulator app; `/_sandbox/*` routes and requests outside `scope` (see
    `bearer_only`) are never faulted, nor do they use up the plan's random draws."""

    def __init__(
        self,
        app: ASGIApp,
        plan: FaultPlan,
        render: FaultRenderer,
        slow_s: float = 35.0,
        *,
        scope: FaultScope = everyone,
        fits: FaultFits = any_fault_fits,
    ) -> None:
        self.app = app
        self.plan = plan
        self.render = render
        self.slow_s = slow_s
        self.applies = scope
        self.fits = fits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exempt = scope["type"] != "http" or scope["path"].startswith("/_sandbox")
        if exempt or not self.applies(scope):
            await self.app(scope, receive, send)
            return
        fault = self.plan.draw(lambda kind: self.fits(kind, scope))
        if fault is None:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["fault"] = fault.kind.value
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        if fault.after_effect:
            await self.app(scope, receive, capture)
        if fault.kind is FaultKind.SLOW:
            await asyncio.sleep(self.slow_s)
            for message in captured:
                await send(message)
            return
        if fault.kind is FaultKind.RESET and _abort_connection(scope, send):
            # Let the server see the connection gone before we return without an answer,
            # or it logs "ASGI callable returned without starting response".
            await asyncio.sleep(0)
            return
        status, body, headers = self.render(fault.kind)
        await _send_response(send, status, body, headers)


AnswerListener = Callable[[str, str], None]


class AnswerTap:
    """Calls a listener with (method, path) when the emulator has carried a request out,
    just before its answer leaves (only for requests in `scope`): a benchmark can kill the
    client at the worst moment for it, the effect done and the answer not yet received."""

    def __init__(self, app: ASGIApp, *, scope: FaultScope = everyone) -> None:
        self.app = app
        self.applies = scope
        self.listener: AnswerListener | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        listener = self.listener
        if listener is None or scope["type"] != "http" or not self.applies(scope):
            await self.app(scope, receive, send)
            return
        method, path = str(scope["method"]), str(scope["path"])

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                listener(method, path)
            await send(message)

        await self.app(scope, receive, answer)


class RequestLog:
    """The answered requests of one emulator, as served by `GET /_sandbox/requests`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class RequestLogMiddleware:
    """Outermost layer: records method, path (never the query string) and status."""

    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == "/_sandbox/requests":
            await self._serve_log(scope, send)
            return
        status: list[int] = []
        logged: list[bool] = []
        transport = _transport_of(send)
        if transport is not None:
            scope.setdefault("state", {})["sandbox.transport"] = transport

        def log_once() -> None:
            if logged or path.startswith("/_sandbox"):
                return
            logged.append(True)
            entry: dict[str, Any] = {
                "method": scope["method"],
                "path": path,
                "status": status[0] if status else None,
                "at": round(time.time(), 6),  # when it was answered (Unix seconds)
            }
            fault = scope.get("state", {}).get("fault")
            if fault:
                entry["fault"] = fault
            self.log.add(entry)

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Logged before the answer's last byte leaves: a client that has its answer
                # finds its request in the log (a test reading the log right after never races).
                log_once()
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            log_once()  # no answer at all (a dropped connection) is logged too

    async def _serve_log(self, scope: Scope, send: Send) -> None:
        if scope["method"] == "DELETE":
            self.log.clear()
            await _send_response(send, 200, b"[]", {"content-type": "application/json"})
            return
        body = json.dumps(self.log.entries()).encode()
        await _send_response(send, 200, body, {"content-type": "application/json"})
