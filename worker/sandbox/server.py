"""Sandbox: serve the two emulators over loopback HTTP (uvicorn in threads), as one unit."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

import uvicorn

from worker.sandbox.faults import (
    NOTION_FAULTS,
    SLACK_FAULTS,
    AnswerListener,
    AnswerTap,
    ASGIApp,
    FaultMiddleware,
    FaultPlan,
    FaultScope,
    RequestLog,
    RequestLogMiddleware,
    bearer_only,
    everyone,
    notion_fault_fits,
    notion_fault_response,
    slack_fault_response,
)
from worker.sandbox.notion import NotionEmulator
from worker.sandbox.notion.limits import NotionLimits
from worker.sandbox.ratelimit import RateLimit
from worker.sandbox.slack import SlackEmulator
from worker.sandbox.slack.delivery import DeliveryTap, InboundOptions
from worker.sandbox.workspace import Workspace, make_workspace, workspace_info


class ServedApp:
    """One ASGI app on 127.0.0.1:<port> (0 picks a free port), served from a daemon thread."""

    def __init__(self, app: ASGIApp, port: int = 0, host: str = "127.0.0.1") -> None:
        # IPPROTO_TCP makes asyncio set TCP_NODELAY on each connection; without it every
        # answer waits ~40 ms for a delayed ACK.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        # ws: the Slack emulator serves Socket Mode; the sans-I/O implementation of the
        # `websockets` package answers pings with pongs echoing their payload.
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_keep_alive=30,
            ws="websockets-sansio",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"sandbox server on port {self.port} did not start")
            time.sleep(0.01)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._sock.close()


@dataclass(frozen=True)
class SandboxOptions:
    notion_port: int = 0
    slack_port: int = 0
    fault_rate: float = 0.0
    seed: int = 0
    # Notion: a budget per connection per 60-second window and one for the whole workspace
    # (the shape Notion documents; the numbers are assumptions, see `NotionLimits`).
    notion_limits: NotionLimits = field(default_factory=NotionLimits)
    # Slack: chat.postMessage about one message per second per channel, short bursts.
    slack_post_rate: RateLimit = field(default_factory=lambda: RateLimit(1.0, 5.0))
    # Slack's per-method tiers (Tier 2: 20/min, Tier 3: 50/min, Tier 4: 100/min).
    slack_tier_limits: bool = True
    # Notion: two users' writes to one page (or rows created in one data source) this close
    # together collide, the later one answering 409 conflict_error; 0 turns it off.
    notion_conflict_window_s: float = 0.0
    # Seconds a "slow" fault holds the answer (longer than the clients' timeouts).
    slow_fault_s: float = 35.0
    # "all": any request may be faulted; "bot": only the integration's and the bot's (the
    # worker's), so that the people acting in a benchmark are never the ones failing.
    fault_scope: Literal["all", "bot"] = "all"
    state_file: Path | None = None
    # Inbound Slack: where events go when no Socket Mode connection is open (None: held
    # until a socket or a URL appears), the delays before each HTTP retry (Slack's are said
    # to be 0, 1 min and 5 min; tests compress them), the Socket Mode ack timeout, and a
    # `disconnect` (refresh_requested) sent to each socket this long after it opened.
    events_url: str | None = None
    event_retry_delays_s: tuple[float, ...] = (0.0, 60.0, 300.0)
    socket_ack_timeout_s: float = 3.0
    socket_refresh_s: float | None = None


class Sandbox:
    """Both emulators, their fault layers and request logs; `info()` is the JSON line."""

    def __init__(self, options: SandboxOptions | None = None) -> None:
        self.options = options or SandboxOptions()
        self.workspace: Workspace = make_workspace(self.options.seed)
        self.notion = NotionEmulator(
            self.workspace,
            limits=self.options.notion_limits,
            conflict_window_s=self.options.notion_conflict_window_s,
        )
        self.slack = SlackEmulator(
            self.workspace,
            post_rate=self.options.slack_post_rate,
            tier_limits=self.options.slack_tier_limits,
            inbound=InboundOptions(
                ack_timeout_s=self.options.socket_ack_timeout_s,
                retry_delays_s=self.options.event_retry_delays_s,
                socket_refresh_s=self.options.socket_refresh_s,
            ),
        )
        self.slack.set_events_url(self.options.events_url)
        state_file = self.options.state_file
        if state_file is not None and state_file.exists():
            self.load(state_file)
        self.notion_log = RequestLog()
        self.slack_log = RequestLog()
        rate, seed = self.options.fault_rate, self.options.seed
        self.fault_plans = (
            FaultPlan(rate, seed, NOTION_FAULTS),
            FaultPlan(rate, seed + 1, SLACK_FAULTS),
        )
        notion_scope = self._fault_scope(self.workspace.notion_token)
        slack_scope = self._fault_scope(self.workspace.slack_token)
        self.taps = (
            AnswerTap(self.notion.app, scope=notion_scope),
            AnswerTap(self.slack.app, scope=slack_scope),
        )
        notion_app = FaultMiddleware(
            self.taps[0],
            self.fault_plans[0],
            notion_fault_response,
            slow_s=self.options.slow_fault_s,
            scope=notion_scope,
            fits=notion_fault_fits,
        )
        slack_app = FaultMiddleware(
            self.taps[1],
            self.fault_plans[1],
            slack_fault_response,
            slow_s=self.options.slow_fault_s,
            scope=slack_scope,
        )
        self._notion_server = ServedApp(
            RequestLogMiddleware(notion_app, self.notion_log), self.options.notion_port
        )
        self._slack_server = ServedApp(
            RequestLogMiddleware(slack_app, self.slack_log), self.options.slack_port
        )
        self.slack.base_url = self._slack_server.url

    def _fault_scope(self, bot_token: str) -> FaultScope:
        if self.options.fault_scope == "all":
            return everyone
        if self.options.fault_scope == "bot":
            return bearer_only(bot_token)
        raise ValueError(f"fault scope must be 'all' or 'bot', got {self.options.fault_scope!r}")

    def tap_answers(self, listener: AnswerListener | None) -> None:
        """Call `listener(method, path)` each time either emulator has carried out a request
        in the fault scope, just before the answer leaves (None stops it)."""
        for tap in self.taps:
            tap.listener = listener

    def tap_deliveries(self, listener: DeliveryTap | None) -> None:
        """Call `listener(moment, kind)` each time Slack sends the app an envelope ("sent")
        or hears its acknowledgement ("acked"); None stops it."""
        self.slack.inbound.tap = listener

    def set_fault_rate(self, rate: float) -> None:
        """Faults on, off or at another rate from now on (e.g. off while a benchmark sets up)."""
        for plan in self.fault_plans:
            plan.set_rate(rate)

    @property
    def notion_base_url(self) -> str:
        """What `notion_client.Client(base_url=...)` takes: no trailing slash."""
        return self._notion_server.url

    @property
    def slack_base_url(self) -> str:
        """What `slack_sdk.WebClient(base_url=...)` takes: ending in /api/."""
        return self._slack_server.url + "/api/"

    def info(self) -> dict[str, Any]:
        return workspace_info(self.workspace, self.notion_base_url, self.slack_base_url)

    def worker_env(self, database_id: str) -> dict[str, str]:
        """The settings that point a worker at this sandbox and one Incidents database."""
        return {
            "NOTION_TOKEN": self.workspace.notion_token,
            "SLACK_BOT_TOKEN": self.workspace.slack_token,
            "NOTION_INCIDENTS_DATABASE_ID": database_id,
            "SLACK_CHANNEL_ID": self.workspace.slack_channel_id,
            "NOTION_BASE_URL": self.notion_base_url,
            "SLACK_BASE_URL": self.slack_base_url,
        }

    def start(self) -> Self:
        self._notion_server.start()
        self._slack_server.start()
        return self

    def stop(self) -> None:
        self.slack.close()
        self._notion_server.stop()
        self._slack_server.stop()
        if self.options.state_file is not None:
            self.save(self.options.state_file)

    def save(self, path: Path) -> None:
        data = {"seed": self.options.seed, "notion": self.notion.dump(), "slack": self.slack.dump()}
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(path)

    def load(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("seed") != self.options.seed:
            raise ValueError(
                f"{path} was saved with --seed {data.get('seed')}; start the sandbox with that seed"
            )
        self.notion.load(data["notion"])
        self.slack.load(data["slack"])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
