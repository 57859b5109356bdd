"""Sandbox Slack: delivering inbound requests (events, interactions, commands) to the app.

Where a request goes: to an open Socket Mode connection if there is one (round robin, one
connection per envelope), else to the HTTP request URL if one is set, else it is held (a
bounded queue) until one appears. What real Slack does that an app must cope with, and
tests can watch (`deliveries()`):

- Socket Mode: an `events_api` envelope not acked within the ack timeout is sent again with
  `retry_attempt` + 1 and `retry_reason: "timeout"` (to another connection if there is one),
  up to 3 retries (the count and the timeout: BOLT socket mock server shows the fields;
  the schedule is UNSOURCED, reference/slack/inbound.md §1).
- HTTP: a POST signed with the signing secret; a non-2xx answer or none within 3 s is
  retried with `X-Slack-Retry-Num` / `X-Slack-Retry-Reason` after `retry_delays_s` (Slack's
  immediate / 1 min / 5 min is folklore, UNSOURCED: §2; tests compress it).
- Interactions and slash commands are not retried: the person sees an error instead. Their
  sender waits for the ack (`deliver_now`) and gets its payload back.

The hub has its own lock and never takes the emulator's: the Web API publishes into it
while holding the emulator's lock, from uvicorn's event loop, so nothing here blocks.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from worker.sandbox.slack.events import Event
from worker.sandbox.slack.signing import signed_headers
from worker.sandbox.slack.state import stable_id
from worker.sandbox.workspace import Workspace

SOCKET_RETRIES = 3
HISTORY_MAX = 5000


class Connection(Protocol):
    """An open Socket Mode WebSocket, as the hub sees it (thread-safe, never blocks)."""

    number: int

    def send(self, text: str) -> None: ...

    def close(self) -> None: ...


# Told of each envelope sent ("sent") and acknowledged ("acked"), with its kind, from the
# thread that sends or hears it (a chaos run kills the worker at those moments).
DeliveryTap = Callable[[str, str], None]


@dataclass(frozen=True)
class InboundOptions:
    ack_timeout_s: float = 3.0
    http_timeout_s: float = 3.0
    retry_delays_s: tuple[float, ...] = (0.0, 60.0, 300.0)
    held_max: int = 1000
    # Send each socket a `disconnect` (reason refresh_requested) this long after it opened,
    # as Slack refreshes connections every few hours (None: never).
    socket_refresh_s: float | None = None
    # How long a socket told to disconnect stays open before the sandbox closes it.
    disconnect_grace_s: float = 5.0


@dataclass
class Attempt:
    transport: str  # "socket" | "http"
    retry_attempt: int
    outcome: str = "pending"  # acked | timeout | http_error | http_timeout | connection_failed


@dataclass
class Envelope:
    envelope_id: str
    kind: str  # events_api | interactive | slash_commands
    payload: dict[str, Any]
    event_id: str | None
    sync: bool
    attempts: list[Attempt] = field(default_factory=list)
    acked: bool = False
    response: Any = None
    finished: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    connection: int | None = None
    deadline: float | None = None  # monotonic: socket ack expected by then
    due: float | None = None  # monotonic: next HTTP attempt

    def as_json(self) -> dict[str, Any]:
        return {
            "envelope_id": self.envelope_id,
            "type": self.kind,
            "event_id": self.event_id,
            "event_type": self.payload.get("event", {}).get("type")
            if self.kind == "events_api"
            else self.payload.get("type") or "slash_commands",
            "transport": self.attempts[-1].transport if self.attempts else None,
            "attempts": [a.__dict__ for a in self.attempts],
            "acked": self.acked,
            "response": self.response,
            "finished": self.finished,
        }


class Inbound:
    """The delivery hub of one Slack emulator."""

    def __init__(
        self,
        workspace: Workspace,
        options: InboundOptions | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.workspace = workspace
        self.options = options or InboundOptions()
        self.clock = clock
        self._cond = threading.Condition()
        self._connections: list[Connection] = []
        self._opened: dict[int, float] = {}
        self._opened_count = 0
        self._closing: dict[int, float] = {}
        self._round_robin = itertools.count()
        self._events = itertools.count(1)
        self._envelopes: dict[str, Envelope] = {}
        self._held: deque[Envelope] = deque(maxlen=self.options.held_max)
        self.events_url: str | None = None
        self._http = httpx.Client(timeout=self.options.http_timeout_s, trust_env=False)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="slack-inbound")
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._verification_token = stable_id("", f"verification:{workspace.seed}")
        self.tap: DeliveryTap | None = None

    # -- what the emulator calls ---------------------------------------------------------

    def publish(self, events: list[Event]) -> None:
        """Events of a Web API call: wrapped in `event_callback` and sent on (never blocks)."""
        with self._cond:
            for event in events:
                event_id = stable_id("Ev", f"{self.workspace.seed}:event:{next(self._events)}")
                body = self._callback(event, event_id)
                envelope = Envelope(str(uuid.uuid4()), "events_api", body, event_id, sync=False)
                self._remember(envelope)
                self._route(envelope)

    def deliver_now(self, kind: str, payload: dict[str, Any]) -> Envelope:
        """An interaction or command: sent once, waiting (ack timeout) for the app's ack."""
        envelope = Envelope(str(uuid.uuid4()), kind, payload, None, sync=True)
        with self._cond:
            self._remember(envelope)
            url = None if self._connections else self.events_url
            if url is None:
                self._route(envelope)
        if url is not None:
            self._post(envelope, url)
        envelope.done.wait(self.options.ack_timeout_s + 1.0)
        return envelope

    def set_events_url(self, url: str | None) -> None:
        with self._cond:
            self.events_url = url or None
            self._flush_held()

    def attach(self, connection: Connection) -> int:
        """A new socket: `hello`, then whatever was held. Returns the connection count."""
        with self._cond:
            self._connections.append(connection)
            self._opened[connection.number] = time.monotonic()
            self._opened_count += 1
            count = len(self._connections)
            connection.send(json.dumps(self._hello(count)))
            self._flush_held()
            self._wake()
            return count

    def detach(self, connection: Connection) -> None:
        with self._cond:
            if connection in self._connections:
                self._connections.remove(connection)
            self._opened.pop(connection.number, None)
            self._closing.pop(connection.number, None)
            self._cond.notify_all()

    def receive(self, text: str) -> None:
        """A frame from the app: an ack `{"envelope_id", "payload"?}`; anything else is
        ignored (as Slack ignores what it does not expect)."""
        try:
            frame = json.loads(text)
        except ValueError:
            return
        if isinstance(frame, dict) and isinstance(frame.get("envelope_id"), str):
            self.ack(frame["envelope_id"], frame.get("payload"))

    def ack(self, envelope_id: str, payload: Any) -> None:
        with self._cond:
            envelope = self._envelopes.get(envelope_id)
            if envelope is None or envelope.acked or envelope.finished:
                return
            envelope.attempts[-1].outcome = "acked"
            self._finish(envelope, acked=True, response=payload)
            self._tell("acked", envelope)

    def disconnect_sockets(self, reason: str = "refresh_requested") -> int:
        """Tell every socket to reconnect (the SDK then calls apps.connections.open again);
        the sandbox closes them after the grace period. Returns how many were told."""
        with self._cond:
            for connection in list(self._connections):
                self._tell_disconnect(connection, reason)
            self._cond.notify_all()
            return len(self._connections)

    def held(self) -> list[dict[str, Any]]:
        """The payloads waiting for a socket or a URL, oldest first (copies)."""
        with self._cond:
            return [json.loads(json.dumps(e.payload)) for e in self._held]

    def connections_opened(self) -> int:
        """Sockets accepted so far (a reconnect adds one)."""
        with self._cond:
            return self._opened_count

    def connection_count(self) -> int:
        with self._cond:
            return len(self._connections)

    def deliveries(self) -> list[dict[str, Any]]:
        with self._cond:
            return [e.as_json() for e in self._envelopes.values()]

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            for connection in self._connections:
                connection.close()
            self._cond.notify_all()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    # -- routing -----------------------------------------------------------------------------

    def _route(self, envelope: Envelope) -> None:
        """Socket, else HTTP, else held (an interaction with nowhere to go fails now)."""
        if self._connections:
            # Not to a socket told to go away, nor (if there is another) the one that let
            # this envelope time out.
            open_ = [c for c in self._connections if c.number not in self._closing]
            choices = open_ or self._connections
            if len(choices) > 1:
                choices = [c for c in choices if c.number != envelope.connection] or choices
            connection = choices[next(self._round_robin) % len(choices)]
            self._send_socket(envelope, connection)
        elif self.events_url is not None:
            if envelope.sync:
                self._pool.submit(self._post, envelope, self.events_url)
            else:
                envelope.due = time.monotonic()
                self._wake()
        elif envelope.sync:
            self._finish(envelope, acked=False, response=None)
        else:
            self._held.append(envelope)

    def _flush_held(self) -> None:
        while self._held and (self._connections or self.events_url):
            self._route(self._held.popleft())

    def _send_socket(self, envelope: Envelope, connection: Connection) -> None:
        retry = len(envelope.attempts)
        reason = envelope.attempts[-1].outcome if envelope.attempts else ""
        envelope.attempts.append(Attempt("socket", retry))
        envelope.connection = connection.number
        envelope.deadline = time.monotonic() + self.options.ack_timeout_s
        frame: dict[str, Any] = {
            "envelope_id": envelope.envelope_id,
            "payload": envelope.payload,
            "type": envelope.kind,
            "accepts_response_payload": envelope.kind != "events_api",
        }
        if envelope.kind == "events_api":
            # Only events carry the retry fields (reference/slack/inbound.md, pitfall 4).
            frame |= {"retry_attempt": retry, "retry_reason": reason}
        connection.send(json.dumps(frame))
        self._tell("sent", envelope)
        self._wake()

    def _tell(self, moment: str, envelope: Envelope) -> None:
        tap = self.tap
        if tap is not None:
            tap(moment, envelope.kind)

    def _remember(self, envelope: Envelope) -> None:
        self._envelopes[envelope.envelope_id] = envelope
        while len(self._envelopes) > HISTORY_MAX:
            oldest = next(iter(self._envelopes))
            del self._envelopes[oldest]

    def _finish(self, envelope: Envelope, *, acked: bool, response: Any) -> None:
        envelope.acked, envelope.response, envelope.finished = acked, response, True
        envelope.deadline = envelope.due = None
        envelope.done.set()

    # -- HTTP ----------------------------------------------------------------------------------

    def _post(self, envelope: Envelope, url: str) -> None:
        """One signed POST (in a pool thread, or the sender's for an interaction)."""
        with self._cond:
            retry = len(envelope.attempts)
            reason = envelope.attempts[-1].outcome if envelope.attempts else ""
            attempt = Attempt("http", retry)
            envelope.attempts.append(attempt)
        body, content_type = _http_body(envelope)
        headers = signed_headers(
            self.workspace.slack_signing_secret, int(self.clock()), body, content_type
        )
        if retry:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": reason}
        self._tell("sent", envelope)
        outcome, response = self._send_http(url, body, headers)
        with self._cond:
            if envelope.finished:
                return
            attempt.outcome = outcome
            if outcome == "acked":
                self._finish(envelope, acked=True, response=response)
                self._tell("acked", envelope)
            elif envelope.sync or retry >= len(self.options.retry_delays_s):
                self._finish(envelope, acked=False, response=None)
            else:
                envelope.due = time.monotonic() + self.options.retry_delays_s[retry]
                self._wake()

    def _send_http(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[str, Any]:
        try:
            answer = self._http.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return "http_timeout", None
        except httpx.HTTPError:
            # Slack's reason for an unreachable URL: `connection_failed` (UNSOURCED here).
            return "connection_failed", None
        if not 200 <= answer.status_code < 300:
            return "http_error", None
        text = answer.text
        if not text.strip():
            return "acked", None
        try:
            return "acked", json.loads(text)
        except ValueError:
            return "acked", {"text": text}

    # -- the timer ---------------------------------------------------------------------------

    def _wake(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="slack-inbound-timer", daemon=True
            )
            self._thread.start()
        self._cond.notify_all()

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                wait_s = self._tick(time.monotonic())
                self._cond.wait(wait_s)

    def _tick(self, now: float) -> float | None:
        """Carry out what is due; the seconds until the next thing is (None: nothing)."""
        upcoming: list[float] = []
        for envelope in list(self._envelopes.values()):
            if envelope.finished:
                continue
            if envelope.deadline is not None and envelope.deadline <= now:
                self._socket_timeout(envelope)
            if envelope.due is not None and envelope.due <= now:
                self._http_due(envelope)
            # What the steps above scheduled counts too (a notify from this thread is lost).
            upcoming += [t for t in (envelope.deadline, envelope.due) if t is not None]
        upcoming += self._refresh_sockets(now)
        return max(0.0, min(upcoming) - now) if upcoming else None

    def _socket_timeout(self, envelope: Envelope) -> None:
        envelope.deadline = None
        envelope.attempts[-1].outcome = "timeout"
        if envelope.sync or len(envelope.attempts) > SOCKET_RETRIES:
            self._finish(envelope, acked=False, response=None)
            return
        self._route(envelope)

    def _http_due(self, envelope: Envelope) -> None:
        envelope.due = None
        if self._connections:
            self._route(envelope)
        elif self.events_url is not None:
            self._pool.submit(self._post, envelope, self.events_url)
        else:
            self._held.append(envelope)

    def _refresh_sockets(self, now: float) -> list[float]:
        upcoming: list[float] = []
        refresh = self.options.socket_refresh_s
        for connection in list(self._connections):
            closing = self._closing.get(connection.number)
            if closing is not None:
                if closing <= now:
                    connection.close()
                    self._connections.remove(connection)
                else:
                    upcoming.append(closing)
                continue
            if refresh is None:
                continue
            due = self._opened.get(connection.number, now) + refresh
            if due <= now:
                self._tell_disconnect(connection, "refresh_requested")
                upcoming.append(self._closing[connection.number])
            else:
                upcoming.append(due)
        return upcoming

    def _tell_disconnect(self, connection: Connection, reason: str) -> None:
        frame = {"type": "disconnect", "reason": reason, "debug_info": {"host": _HOST}}
        connection.send(json.dumps(frame))
        self._closing[connection.number] = time.monotonic() + self.options.disconnect_grace_s
        self._wake()

    # -- bodies --------------------------------------------------------------------------------

    def _hello(self, count: int) -> dict[str, Any]:
        """The SDK mock server's hello (reference/slack/inbound.md §1)."""
        return {
            "type": "hello",
            "num_connections": count,
            "debug_info": {
                "host": _HOST,
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.workspace.slack_app_id},
        }

    def _callback(self, event: Event, event_id: str) -> dict[str, Any]:
        """The `event_callback` envelope (keys of the SDK mock server and java samples)."""
        ws = self.workspace
        return {
            "token": self._verification_token,
            "team_id": ws.slack_team_id,
            "context_team_id": ws.slack_team_id,
            "context_enterprise_id": None,
            "api_app_id": ws.slack_app_id,
            "event": event.body,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(self.clock()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": ws.slack_team_id,
                    "user_id": ws.slack_bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": event.ext_shared,
            "event_context": f"4-{event_id}",
        }

    @property
    def verification_token(self) -> str:
        return self._verification_token


_HOST = "applink-sandbox"


def _http_body(envelope: Envelope) -> tuple[bytes, str]:
    """Events as JSON; interactions as `payload=<json>`; commands as form fields."""
    if envelope.kind == "events_api":
        return json.dumps(envelope.payload).encode(), "application/json"
    form = "application/x-www-form-urlencoded"
    if envelope.kind == "interactive":
        return urllib.parse.urlencode({"payload": json.dumps(envelope.payload)}).encode(), form
    fields = {k: str(v) for k, v in envelope.payload.items()}
    return urllib.parse.urlencode(fields).encode(), form
