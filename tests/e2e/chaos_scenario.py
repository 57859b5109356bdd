"""Chaos: the demo's incident played many times over by the sandbox's people while the worker,
a separate process, is killed with SIGKILL and restarted; then what Slack and Notion show is
compared with a fault-free run of the same scenario.

Shared by `bench/chaos.py` (`make chaos`) and `tests/e2e/test_chaos.py` (the small version),
so that both judge "never lose or double a message or a page" the same way.
"""

from __future__ import annotations

import difflib
import logging
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TextIO

import notion_client
import sqlalchemy as sa
from notion_client.client import RetryOptions
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.postgres import throwaway_database
from tests.waiting import wait_until
from worker.buttons_blocks import POST_UPDATE, UPDATE_BLOCK, UPDATE_INPUT, UPDATE_VIEW
from worker.config import Settings
from worker.demo import SCRIPTS
from worker.notion import NotionGateway
from worker.pages.to_markdown import blocks_to_markdown
from worker.provision import setup_incidents
from worker.sandbox import Sandbox, SandboxOptions
from worker.sandbox.notion.limits import NotionLimits
from worker.sandbox.people import people, rich, select, title
from worker.sandbox.ratelimit import RateLimit
from worker.sandbox.workspace import SandboxPerson
from worker.store import engine_url, lease_table

PAGE_KINDS = ("Timeline", "Postmortem")
# The people's clients wait out the sandbox's rate limits quietly (at log level ERROR).
_PEOPLE_LOG = logging.getLogger("bench.chaos.people")
_POLL_S = 0.1
_REPORT_EVERY_S = 30.0
# A replica that has not taken the lease within this long is standing by (and may be killed).
_STANDBY_S = 3.0


@dataclass(frozen=True)
class ChaosConfig:
    """One chaos run: how many incidents, how faulty the sandbox, how the worker is killed."""

    incidents: int = 20
    fault_rate: float = 0.2
    seed: int = 1
    # The worker is killed this many seconds (drawn uniformly) after it started polling.
    kill_after_s: tuple[float, float] = (1.0, 5.0)
    kills: bool = True
    # Stop killing after this many kills of each worker process (None: go on until the
    # scenario ends).
    max_kills: int | None = None
    # Short client timeouts, and "slow" faults just longer than them.
    client_timeout_s: float = 3.0
    # The sandbox's Notion and Slack rate limits (and the worker pacing itself to them).
    rate_limits: bool = False
    step_timeout_s: float = 300.0
    # Seconds between the declarations of two incidents.
    stagger_s: float = 0.3
    # The worker's leadership lease: a killed worker never releases it, so its successor
    # waits this long at most.
    lease_ttl_s: float = 5.0
    # Worker processes at once. More than one share a state store on PostgreSQL (a
    # throwaway database), each killed and started again on its own.
    replicas: int = 1
    # People in Slack too: replies pinned / 📌 (some withdrawn, one edited) and an update
    # posted with the parent's button, heard over Socket Mode ("socket", the worker's
    # default with SLACK_APP_TOKEN), over signed HTTP at `run --port`'s /slack/events
    # ("http", one worker only), or not at all ("off").
    inbound: Literal["socket", "http", "off"] = "socket"
    # HTTP: the seconds before each redelivery of an event the worker did not answer
    # (Slack's minutes, compressed; after the last, the worker's catch-up at start).
    event_retry_delays_s: tuple[float, ...] = (0.5, 2.0, 5.0)

    def fault_free(self) -> ChaosConfig:
        """The same scenario on the same workspace, with no faults, no kills and one worker."""
        return replace(self, fault_rate=0.0, kills=False, replicas=1)


# --- what people see, normalised --------------------------------------------------------

_VOLATILE = (
    (re.compile(r"https?://[^\s|>)\]\"']+"), "<url>"),
    (re.compile(r"notion-user:[0-9a-f-]{32,36}"), "<user>"),
    (re.compile(r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b"), "<id>"),
    (re.compile(r"\b\d{10}\.\d{6}\b"), "<ts>"),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:\d{2})?"
        ),
        "<date>",
    ),
    (re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b"), "<time>"),
    # Durations as messages and pages spell them (less than a minute, 12 min, 1 h 5 min,
    # 3 d 2 h; 1分未満, 12分…).
    (
        re.compile(r"less than a minute|\b\d+ (?:d|h|min|s)(?: \d+ (?:h|min))?\b"),
        "<duration>",
    ),
    (re.compile(r"1分未満|\d+(?:日|時間|分|秒)(?:\d+(?:時間|分))?"), "<duration>"),
)


def normalise(text: str) -> str:
    """Text with what differs from run to run (times, ts, ids, URLs, durations) masked."""
    for pattern, mask in _VOLATILE:
        text = pattern.sub(mask, text)
    return text.strip()


def message_text(message: dict[str, Any]) -> str:
    """All the text of a Slack message: its fallback text and every text object in its blocks."""
    parts = [str(message.get("text", ""))]
    for block in message.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(str(text.get("text", "")))
        parts += [str(item.get("text", "")) for item in block.get("fields") or []]
        parts += [str(item.get("text", "")) for item in block.get("elements") or []]
    if message.get("subtype") == "thread_broadcast":
        parts.append("(also sent to the channel)")
    return "\n".join(parts)


def _action_key(message: dict[str, Any]) -> str:
    metadata = message.get("metadata") or {}
    return str((metadata.get("event_payload") or {}).get("key", ""))


@dataclass
class IncidentOutcome:
    """One incident as people see it at the end: its thread and its child pages."""

    title: str
    page_id: str
    parents: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    pages: dict[str, list[str]] = field(default_factory=dict)
    stuck: str | None = None

    @property
    def notes(self) -> list[str]:
        """The timeline's entries from Slack replies (struck through: ~~…~~), in order."""
        timeline = self.pages.get("Timeline") or [""]
        needles = [n.needle for n in NOTES]
        return [line for line in timeline[0].splitlines() if any(n in line for n in needles)]

    @property
    def updates_from_slack(self) -> list[str]:
        """The thread's replies for updates posted with the Post update button."""
        first = UPDATE_FROM_SLACK.splitlines()[0]
        return [r for r in self.replies if first in r]


@dataclass
class RunResult:
    incidents: list[IncidentOutcome]
    wall_s: float
    kills: int = 0
    kills_before_answer: int = 0
    starts: int = 0
    exits: int = 0
    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    log_path: Path | None = None
    replicas: int = 1
    kills_after_ack: int = 0
    # Inbound Slack as the sandbox delivered it: envelopes (events, clicks, submissions),
    # those sent more than once, those never acknowledged; clicks and submissions made.
    inbound: Counter[str] = field(default_factory=Counter)


# --- the worker as a separate process -----------------------------------------------------

_QUERY = re.compile(r"^/v1/data_sources/[^/]+/query$")
_APPEND = re.compile(r"^/v1/blocks/[^/]+/children$")


def _is_write(method: str, path: str) -> bool:
    """A request that is not safe to repeat: a post, a page created, blocks appended."""
    if path.endswith("/chat.postMessage"):
        return True
    return (method == "POST" and path == "/v1/pages") or (
        method == "PATCH" and bool(_APPEND.match(path))
    )


class Supervisor:
    """Runs `incident-worker run`; with `kills`, SIGKILLs it at random moments (half of them
    when a request that is not safe to repeat was carried out but not yet answered) and starts
    it again on the same state store; without, it only restarts it if it exits on its own.

    One supervisor per replica: each kills and restarts its own process, whatever the others
    do. With `holds_lease` (replicas), a process counts as polling once it holds the lease or
    has stood by for a while, and only the leader is killed right after a write (the requests
    say nothing of which replica made them)."""

    def __init__(
        self,
        box: Sandbox,
        env: dict[str, str],
        workdir: Path,
        rng: random.Random,
        config: ChaosConfig,
        *,
        name: str = "worker",
        holds_lease: Callable[[int], bool] | None = None,
        tap_lock: threading.Lock | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.box = box
        self.args = args
        self.env = env
        self.workdir = workdir
        self.rng = rng
        self.config = config
        self.log_path = workdir / f"{name}.log"
        self.holds_lease = holds_lease
        # The sandbox has one answer tap: one supervisor at a time may listen to it.
        self.tap_lock = tap_lock or threading.Lock()
        self.kills = 0
        self.kills_before_answer = 0
        self.kills_after_ack = 0
        self.starts = 0
        self.exits = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: TextIO | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._log = self.log_path.open("a", encoding="utf-8")
        self._thread.start()

    def stop(self) -> None:
        """Let the worker finish cleanly (SIGTERM), as an operator would at the end."""
        self._stop.set()
        self._thread.join(60)
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()

    def _spawn(self) -> subprocess.Popen[bytes]:
        assert self._log is not None
        self._log.write(f"--- start {self.starts + 1} ---\n")
        self._log.flush()
        self.starts += 1
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "worker", "run", *self.args],
            env=self.env,
            cwd=self.workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self._proc

    def _run(self) -> None:
        while not self._stop.is_set():
            mark = len(self.box.notion_log.entries())
            proc = self._spawn()
            if not self._killing():
                while proc.poll() is None and not self._stop.wait(0.2):
                    pass
            elif self._wait_until_polling(proc, mark):
                low, high = self.config.kill_after_s
                if not self._stop.wait(self.rng.uniform(low, high)):
                    self._kill(proc)
            if proc.poll() is not None and proc.returncode != -signal.SIGKILL:
                self.exits += 1  # refused to start or died on its own: start it again

    def _killing(self) -> bool:
        limit = self.config.max_kills
        return self.config.kills and (limit is None or self.kills < limit)

    def _wait_until_polling(self, proc: subprocess.Popen[bytes], mark: int) -> bool:
        """Until this process's first poll (a new worker may wait for the lease first); a
        replica, until it leads or has stood by for a while."""
        started = time.monotonic()
        while not self._stop.wait(_POLL_S):
            if proc.poll() is not None:
                return False
            if self.holds_lease is not None:
                if self.holds_lease(proc.pid) or time.monotonic() - started >= _STANDBY_S:
                    return True
                continue
            entries = self.box.notion_log.entries()[mark:]
            if any(e.get("method") == "POST" and _QUERY.match(e["path"]) for e in entries):
                return True
        return False

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is not None:
            return
        moment = self.rng.random()
        inbound = self.config.inbound != "off"
        if moment < (0.35 if inbound else 0.5) and self._kill_before_answer(proc, deadline_s=5.0):
            self.kills_before_answer += 1
        elif inbound and moment < 0.7 and self._kill_after_ack(proc, deadline_s=5.0):
            self.kills_after_ack += 1
        else:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.kills += 1

    def _kill_before_answer(self, proc: subprocess.Popen[bytes], deadline_s: float) -> bool:
        """Kill the worker once the sandbox has carried out its next post, page or append,
        before the answer reaches it: the worst moment for exactly-once delivery."""
        if self.holds_lease is not None and not self.holds_lease(proc.pid):
            return False  # a replica standing by writes nothing
        if not self.tap_lock.acquire(blocking=False):
            return False  # another replica's supervisor is listening
        try:
            return self._tap_and_kill(proc, deadline_s)
        finally:
            self.tap_lock.release()

    def _kill_after_ack(self, proc: subprocess.Popen[bytes], deadline_s: float) -> bool:
        """Kill the worker as soon as Slack hears it acknowledge an event, a click or a
        submission: what it acknowledged must have been recorded, not merely received."""
        if self.holds_lease is not None and not self.holds_lease(proc.pid):
            return False  # Socket Mode goes to any replica, but the leader acts
        if not self.tap_lock.acquire(blocking=False):
            return False
        lock, fired = threading.Lock(), threading.Event()

        def listener(moment: str, _kind: str) -> None:
            with lock:
                if fired.is_set() or proc.returncode is not None or moment != "acked":
                    return
                proc.send_signal(signal.SIGKILL)
                fired.set()

        try:
            self.box.tap_deliveries(listener)
            try:
                fired.wait(deadline_s)
            finally:
                self.box.tap_deliveries(None)
                with lock:
                    done = fired.is_set()
                    fired.set()
            return done
        finally:
            self.tap_lock.release()

    def _tap_and_kill(self, proc: subprocess.Popen[bytes], deadline_s: float) -> bool:
        lock, fired = threading.Lock(), threading.Event()

        def listener(method: str, path: str) -> None:
            with lock:
                if fired.is_set() or proc.returncode is not None or not _is_write(method, path):
                    return
                proc.send_signal(signal.SIGKILL)
                fired.set()

        self.box.tap_answers(listener)
        try:
            fired.wait(deadline_s)
        finally:
            self.box.tap_answers(None)
            with lock:
                done = fired.is_set()
                fired.set()  # a request still under way must not kill a later process
        return done


# --- the people ---------------------------------------------------------------------------


class StepTimeoutError(Exception):
    pass


class Run:
    """One sandbox, one Incidents database, the worker processes and the people playing.

    The state store is a SQLite file in `workdir`, or the PostgreSQL database at
    `database_url` (the replicas share it)."""

    def __init__(
        self, box: Sandbox, config: ChaosConfig, workdir: Path, database_url: str | None = None
    ) -> None:
        self.box = box
        self.config = config
        self.workdir = workdir
        self.state_db = workdir / "state.db"
        self.database_url = database_url
        self._engine = sa.create_engine(engine_url(database_url)) if database_url else None
        self.database_id = ""
        self.data_source_id = ""
        self.counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    def count(self, what: str) -> None:
        with self._count_lock:
            self.counts[what] += 1

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    # -- setup and the worker's environment --------------------------------------------------

    def setup(self) -> None:
        bootstrap = Settings.from_env(
            {
                "NOTION_TOKEN": self.box.workspace.notion_token,
                "NOTION_BASE_URL": self.box.notion_base_url,
            },
            require_workspace=False,
        )
        gateway = NotionGateway.build(bootstrap)
        try:
            result = setup_incidents(gateway, bootstrap, self.box.workspace.parent_page_id)
            self.database_id = result.database_id
            self.data_source_id = gateway.data_source_of(result.database_id)
        finally:
            gateway.close()

    def worker_env(self) -> dict[str, str]:
        timeout = f"{self.config.client_timeout_s:g}s"
        env = {
            **os.environ,
            **self.box.worker_env(self.database_id),
            "DATABASE_URL": self.database_url or f"sqlite:///{self.state_db}",
            "POLL_INTERVAL": "1s",
            "NOTION_TIMEOUT": timeout,
            "SLACK_TIMEOUT": timeout,
            # No nudges: they depend on timing, and runs must be comparable.
            "UPDATE_CADENCE": "SEV1=off,SEV2=off,SEV3=off,SEV4=off",
            "LEASE_TTL": f"{self.config.lease_ttl_s:g}s",
            "LOG_FORMAT": "text",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        if self.config.inbound == "socket":
            env["SLACK_APP_TOKEN"] = self.box.workspace.slack_app_token
        elif self.config.inbound == "http":
            env["SLACK_SIGNING_SECRET"] = self.box.workspace.slack_signing_secret
        if not self.config.rate_limits:
            env["NOTION_REQUESTS_PER_SECOND"] = "1000"
            env["SLACK_POSTS_PER_SECOND"] = "1000"
            env["SLACK_TIER_PACING"] = "off"
        return env

    # -- what the worker has still to do (read from its state file, never written) -----------

    def pending(self, page_id: str | None = None) -> tuple[int, int] | None:
        """(actions not yet done, all actions) for one incident or all; None if unreadable."""
        if self._engine is not None:
            return self._pending_shared(page_id)
        if not self.state_db.exists():
            return None
        query = _PENDING_ONE if page_id else _PENDING_ALL
        args = (page_id,) if page_id else ()
        try:
            with _readonly(self.state_db) as conn:
                row = conn.execute(query, args).fetchone()
        except sqlite3.Error:
            return None
        return (int(row[0]), int(row[1])) if row else None

    def _pending_shared(self, page_id: str | None) -> tuple[int, int] | None:
        assert self._engine is not None
        query = _SHARED_PENDING_ONE if page_id else _SHARED_PENDING_ALL
        try:
            with self._engine.connect() as conn:
                row = conn.execute(sa.text(query), {"page": page_id}).first()
        except sa.exc.SQLAlchemyError:
            return None  # the workers have not created the schema yet
        return (int(row[0]), int(row[1])) if row else None

    def holds_lease(self, pid: int) -> bool:
        """Whether the process `pid` holds the worker's lease now (replicas on PostgreSQL)."""
        if self._engine is None:
            return False
        now_ms = time.time() * 1000
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(sa.select(lease_table.c.holder, lease_table.c.expires_at_ms))
                holders = [str(h) for h, expires in rows if expires > now_ms]
        except sa.exc.SQLAlchemyError:
            return False
        # A holder is "host:pid:random" (worker/lease.py).
        return any(h.split(":")[1:2] == [str(pid)] for h in holders)

    def idle(self, page_id: str | None = None) -> bool:
        counts = self.pending(page_id)
        return counts is not None and counts[0] == 0

    def settle(self, quiet_s: float, timeout_s: float) -> bool:
        """Until nothing is due and nothing new was planned for `quiet_s` (the worker's own
        write-backs are seen by its next poll and may plan a parent update)."""
        deadline = time.monotonic() + timeout_s
        last: tuple[int, int] | None = None
        since = time.monotonic()
        while time.monotonic() < deadline:
            counts = self.pending()
            if counts != last or counts is None or counts[0]:
                last, since = counts, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return True
            time.sleep(_POLL_S)
        return False

    # -- Slack as people see it ----------------------------------------------------------------

    @property
    def channel(self) -> str:
        return self.box.workspace.slack_channel_id

    def parents(self, page_id: str) -> list[dict[str, Any]]:
        key = f"post_parent:{page_id}"
        return [m for m in self.box.slack.channel_messages(self.channel) if _action_key(m) == key]

    def replies(self, page_id: str) -> list[dict[str, Any]]:
        parents = self.parents(page_id)
        if not parents:
            return []
        return self.box.slack.thread(self.channel, str(parents[0]["ts"]))[1:]

    # -- the timeline as Notion holds it (read in process: no request, no rate limit) --------

    def timeline_lines(self, page_id: str) -> list[tuple[str, bool]]:
        return timeline_lines(self.box, page_id)


def timeline_lines(box: Sandbox, page_id: str) -> list[tuple[str, bool]]:
    """Each block of the incident's Timeline page: its plain text, and whether it is
    struck through."""
    notion = box.notion
    with notion.lock:
        state = notion.state
        timeline = next(
            (
                child
                for child in state.children_of(page_id)
                if not state.is_trashed(child)
                and (page := state.pages.get(child)) is not None
                and state.page_title(page).endswith("Timeline")
            ),
            None,
        )
        if timeline is None:
            return []
        lines = []
        for block_id in state.children_of(timeline):
            block = state.blocks.get(block_id)
            if block is None or block.in_trash:
                continue
            items = block.content.get("rich_text") or []
            text = "".join(str(i.get("plain_text", "")) for i in items)
            struck = bool(items) and all(
                (i.get("annotations") or {}).get("strikethrough") for i in items
            )
            lines.append((text, struck))
        return lines


_PENDING_ALL = "SELECT COALESCE(SUM(state IN ('pending', 'sending')), 0), COUNT(*) FROM outbox"
_PENDING_ONE = _PENDING_ALL + " WHERE page_id = ?"
_SHARED_PENDING_ALL = (
    "SELECT COALESCE(SUM(CASE WHEN state IN ('pending', 'sending') THEN 1 ELSE 0 END), 0), "
    "COUNT(*) FROM outbox"
)
_SHARED_PENDING_ONE = _SHARED_PENDING_ALL + " WHERE page_id = :page"


@contextmanager
def _readonly(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        yield conn
    finally:
        conn.close()


@dataclass(frozen=True)
class ThreadNoteScript:
    """A reply someone writes in the incident's thread, who sends it to the timeline and how
    (a pin or a 📌), and what happens to it next: withdrawn, or edited to `edited`."""

    author: str
    text: str
    needle: str  # a part of its text as the timeline shows it (no mrkdwn)
    marker: str
    how: Literal["pin", "pushpin"]
    withdrawn: bool = False
    edited: str | None = None


NOTES = (
    ThreadNoteScript("Ben", "Impact unknown, *investigating*", "Impact unknown", "Chidi", "pin"),
    ThreadNoteScript(
        "Aiko",
        "Two options on the table: revert or patch",
        "Two options",
        "Ben",
        "pushpin",
        withdrawn=True,
    ),
    ThreadNoteScript(
        "Ben",
        "Reverting, expect recovery by 14:30",
        "Reverting, expect",
        "Chidi",
        "pushpin",
        edited="Reverting, expect recovery by 14:45 (the rollout is slower)",
    ),
    ThreadNoteScript(
        "Chidi",
        "Customers notified on the status page",
        "Customers notified",
        "Aiko",
        "pin",
        withdrawn=True,
    ),
)
UPDATE_FROM_SLACK = "Revert deployed; error rate falling.\nNext update in 30 min."


class Player:
    """One incident, played the way the demo's story plays it: each edit by its person, each
    made only once the worker has caught up with the previous one (as people read the thread
    before they act)."""

    def __init__(self, run: Run, index: int) -> None:
        self.run = run
        self.index = index
        self.script = SCRIPTS["en"]
        self.title = f"INC-{index + 1:02d} {self.script.title}"
        self.page_id = ""
        self.stuck: str | None = None
        self.finished = False

    def person(self, name: str) -> SandboxPerson:
        return self.run.box.workspace.person(name)

    def client(self, person: SandboxPerson) -> notion_client.Client:
        return notion_client.Client(
            auth=person.notion_token,
            base_url=self.run.box.notion_base_url,
            retry=RetryOptions(max_retries=10, initial_retry_delay_ms=200),
            logger=_PEOPLE_LOG,
            log_level=logging.ERROR,
        )

    def steps(self) -> list[tuple[str, dict[str, Any], str]]:
        ben, chidi = self.person("Ben"), self.person("Chidi")
        updates = self.script.updates
        return [
            ("Ben", {"Commander": people(ben), "Scribe": people(chidi)}, "mirror the roles"),
            ("Ben", {"Status": select("Identified")}, "mirror Identified"),
            ("Ben", {"Status update": rich(updates[0])}, "post the first update"),
            ("Chidi", {"Severity": select("SEV1")}, "mirror the escalation"),
            ("Ben", {"Status update": rich(updates[1])}, "post the second update"),
            ("Ben", {"Status": select("Monitoring")}, "mirror Monitoring"),
            ("Ben", {"Status": select("Resolved")}, "mirror Resolved"),
        ]

    def play(self) -> None:
        try:
            self.declare()
            for who, properties, what in self.steps():
                self.step(who, properties, what)
                if what == "post the first update" and self.run.config.inbound != "off":
                    self.in_slack()
            self.wait_for("finish the incident", lambda: self.run.idle(self.page_id))
        except StepTimeoutError as exc:
            self.stuck = str(exc)
        except Exception as exc:  # noqa: BLE001 - the incident's outcome, shown in the report
            self.stuck = f"{type(exc).__name__}: {exc}"
        finally:
            self.finished = True

    def wait_for(self, what: str, done: Callable[[], bool]) -> None:
        wait_until(
            what,
            done,
            timeout_s=self.run.config.step_timeout_s,
            every_s=_POLL_S,
            timed_out=lambda _: StepTimeoutError(f"the worker did not {what}"),
        )

    # -- in Slack: thread notes and a button ------------------------------------------------

    def slack(self, who: str) -> WebClient:
        client = WebClient(token=self.person(who).slack_token, base_url=self.run.box.slack_base_url)
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=20))
        return client

    def note_state(self, note: ThreadNoteScript) -> str:
        """How the note shows on the timeline: absent, plain, struck (edited: with its new
        text, or "stale")."""
        found = [
            (t, struck) for t, struck in self.run.timeline_lines(self.page_id) if note.needle in t
        ]
        if not found:
            return "absent"
        if len(found) > 1:
            return "twice"
        text, struck = found[0]
        if note.edited is not None and note.edited not in text:
            return "stale"
        return "struck" if struck else "plain"

    def in_slack(self) -> None:
        """People reply in the thread and send replies to the timeline (pins and 📌); then
        withdraw two and edit one; then post an update with the parent message's button."""
        self.wait_for("catch up", lambda: self.run.idle(self.page_id))
        channel = self.run.channel
        thread = str(self.run.parents(self.page_id)[0]["ts"])
        sent = []
        for note in NOTES:
            answer = self.slack(note.author).chat_postMessage(
                channel=channel, thread_ts=thread, text=note.text
            )
            sent.append(str(answer["ts"]))
        for note, ts in zip(NOTES, sent, strict=True):
            marker = self.slack(note.marker)
            if note.how == "pin":
                marker.pins_add(channel=channel, timestamp=ts)
            else:
                marker.reactions_add(channel=channel, timestamp=ts, name="pushpin")
            self.run.count("pins")
        self.wait_for(
            "put the pinned replies on the timeline",
            lambda: all(self.note_state(n) in ("plain", "stale") for n in NOTES),
        )
        for note, ts in zip(NOTES, sent, strict=True):
            marker = self.slack(note.marker)
            if note.withdrawn and note.how == "pin":
                marker.pins_remove(channel=channel, timestamp=ts)
            elif note.withdrawn:
                marker.reactions_remove(channel=channel, timestamp=ts, name="pushpin")
            if note.edited is not None:
                self.slack(note.author).chat_update(channel=channel, ts=ts, text=note.edited)
        self.wait_for(
            "withdraw and edit the notes",
            lambda: all(
                self.note_state(n) == ("struck" if n.withdrawn else "plain") for n in NOTES
            ),
        )
        self.post_update_with_button("Ben", UPDATE_FROM_SLACK)

    def post_update_with_button(self, who: str, text: str) -> None:
        """Post update on the parent message, then the modal submitted — again, as a person
        would, when Slack says the app did not answer or no modal opened."""
        self.wait_for("catch up", lambda: self.run.idle(self.page_id))
        box, user = self.run.box, self.person(who).slack_id
        parent = str(self.run.parents(self.page_id)[0]["ts"])
        count = len(self.run.replies(self.page_id))
        deadline = time.monotonic() + self.run.config.step_timeout_s
        while time.monotonic() < deadline:
            view = self._update_view(user)
            if view is None:
                self.run.count("clicks")
                clicked = box.slack.click(user, POST_UPDATE, channel=self.run.channel, ts=parent)
                patience = time.monotonic() + (3.0 if clicked["acked"] else 0.5)
                while self._update_view(user) is None and time.monotonic() < patience:
                    time.sleep(_POLL_S)
                continue
            self.run.count("submissions")
            submitted = box.slack.submit(
                user, str(view["id"]), {UPDATE_BLOCK: {UPDATE_INPUT: text}}
            )
            if submitted["acked"]:
                response = submitted["response"] or {}
                if response.get("response_action") == "errors":
                    raise StepTimeoutError(f"the worker refused the update: {response}")
                break
            time.sleep(0.5)
        else:
            raise StepTimeoutError("the worker did not take the update from the modal")
        self.wait_for(
            "post the update from Slack", lambda: len(self.run.replies(self.page_id)) > count
        )

    def _update_view(self, user: str) -> dict[str, Any] | None:
        """The Post update modal open for this incident (other incidents' may be open too)."""
        page = self.page_id.replace("-", "")
        for view in self.run.box.slack.views(user):
            metadata = str(view.get("private_metadata", "")).replace("-", "")
            if view.get("callback_id") == UPDATE_VIEW and page in metadata:
                return view
        return None

    def declare(self) -> None:
        client = self.client(self.person("Aiko"))
        try:
            page = client.pages.create(
                parent={"data_source_id": self.run.data_source_id},
                properties={
                    "Name": title(self.title),
                    "Severity": select("SEV2"),
                    "Status": select("Investigating"),
                    "Impact": rich(self.script.impact),
                },
            )
        finally:
            client.close()
        self.page_id = str(page["id"])  # type: ignore[index]
        self.wait_for("announce the incident", lambda: bool(self.run.parents(self.page_id)))

    def step(self, who: str, properties: dict[str, Any], what: str) -> None:
        self.wait_for("catch up", lambda: self.run.idle(self.page_id))
        count = len(self.run.replies(self.page_id))
        client = self.client(self.person(who))
        try:
            client.pages.update(page_id=self.page_id, properties=properties)
        finally:
            client.close()
        self.wait_for(what, lambda: len(self.run.replies(self.page_id)) > count)


# --- one run, start to end ----------------------------------------------------------------


def sandbox_options(config: ChaosConfig) -> SandboxOptions:
    limits: dict[str, Any] = {}
    if not config.rate_limits:
        limits = {
            "notion_limits": NotionLimits.off(),
            "slack_post_rate": RateLimit(0, 0),
            "slack_tier_limits": False,
        }
    return SandboxOptions(
        fault_rate=config.fault_rate,
        seed=config.seed,
        slow_fault_s=config.client_timeout_s + 0.5,
        fault_scope="bot",
        event_retry_delays_s=config.event_retry_delays_s,
        **limits,
    )


def play(
    config: ChaosConfig, workdir: Path, progress: Callable[[str], None] | None = None
) -> RunResult:
    """The whole scenario on a fresh sandbox: set up, play every incident, collect.
    `progress` hears how far it got every half minute."""
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with Sandbox(sandbox_options(config)) as box, _state_store(config) as database_url:
        box.set_fault_rate(0.0)  # the operator's setup is not what is being tested
        run = Run(box, config, workdir, database_url)
        try:
            run.setup()
            box.set_fault_rate(config.fault_rate)
            supervisors = _supervisors(run)
            for supervisor in supervisors:
                supervisor.start()
            players = [Player(run, i) for i in range(config.incidents)]
            try:
                _play_all(players, config.stagger_s)
                _wait_for_players(players, supervisors, started, progress)
                run.settle(quiet_s=3.0, timeout_s=config.step_timeout_s)
            finally:
                for supervisor in supervisors:
                    supervisor.stop()
            wall_s = time.monotonic() - started
            box.set_fault_rate(0.0)
            outcomes = [collect(run, p) for p in players]
            inbound = _inbound_counts(box, run.counts)
        finally:
            run.close()
        entries = box.notion_log.entries() + box.slack_log.entries()
    return RunResult(
        incidents=outcomes,
        wall_s=wall_s,
        kills=sum(s.kills for s in supervisors),
        kills_before_answer=sum(s.kills_before_answer for s in supervisors),
        starts=sum(s.starts for s in supervisors),
        exits=sum(s.exits for s in supervisors),
        kills_after_ack=sum(s.kills_after_ack for s in supervisors),
        inbound=inbound,
        requests=len(entries),
        faults=Counter(str(e["fault"]) for e in entries if e.get("fault")),
        log_path=supervisors[0].log_path if len(supervisors) == 1 else workdir,
        replicas=len(supervisors),
    )


def _inbound_counts(box: Sandbox, made: Counter[str]) -> Counter[str]:
    """What Slack sent the worker and how it went, and what people did to cause it."""
    counts: Counter[str] = Counter(made)
    for delivery in box.slack.deliveries():
        kind = "events" if delivery["type"] == "events_api" else "interactions"
        counts[kind] += 1
        if len(delivery["attempts"]) > 1:
            counts[f"{kind} redelivered"] += 1
        if not delivery["acked"]:
            counts[f"{kind} never acknowledged"] += 1
    return counts


@contextmanager
def _state_store(config: ChaosConfig) -> Iterator[str | None]:
    """None (a SQLite file per run) for one worker; a throwaway PostgreSQL database, which
    the replicas share, for several."""
    if config.replicas <= 1:
        yield None
        return
    with throwaway_database("iw_chaos") as url:
        yield url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _supervisors(run: Run) -> list[Supervisor]:
    """One supervisor per worker process; replicas each with a random sequence of its own."""
    config, env = run.config, run.worker_env()
    if config.inbound == "http" and config.replicas > 1:
        raise ValueError("inbound over HTTP is played with one worker (one request URL)")
    if config.replicas <= 1:
        args: tuple[str, ...] = ()
        if config.inbound == "http":
            port = _free_port()
            args = ("--port", str(port), "--host", "127.0.0.1")
            run.box.slack.set_events_url(f"http://127.0.0.1:{port}/slack/events")
        rng = random.Random(config.seed)
        return [Supervisor(run.box, env, run.workdir, rng, config, args=args)]
    tap_lock = threading.Lock()
    return [
        Supervisor(
            run.box,
            env,
            run.workdir,
            random.Random(config.seed * 1000 + n),
            config,
            name=f"worker-{n + 1}",
            holds_lease=run.holds_lease,
            tap_lock=tap_lock,
        )
        for n in range(config.replicas)
    ]


def _wait_for_players(
    players: list[Player],
    supervisors: list[Supervisor],
    started: float,
    progress: Callable[[str], None] | None,
) -> None:
    label = "chaos run" if supervisors[0].config.kills else "fault-free run"
    next_report = time.monotonic() + _REPORT_EVERY_S
    while not all(p.finished for p in players):
        time.sleep(_POLL_S)
        if progress is not None and time.monotonic() >= next_report:
            next_report += _REPORT_EVERY_S
            done = sum(p.finished for p in players)
            progress(
                f"{label}: {done}/{len(players)} incidents played, "
                f"{sum(s.kills for s in supervisors)} kills, {time.monotonic() - started:.0f}s"
            )


def play_both(
    config: ChaosConfig, workdir: Path, progress: Callable[[str], None] | None = None
) -> tuple[RunResult, RunResult]:
    """The fault-free run and the chaos run, side by side (two sandboxes, two workers)."""
    results: dict[str, RunResult] = {}

    def reference() -> None:
        results["reference"] = play(config.fault_free(), workdir / "fault-free", progress)

    thread = threading.Thread(target=reference, daemon=True)
    thread.start()
    chaos = play(config, workdir / "chaos", progress)
    thread.join()
    if "reference" not in results:
        raise RuntimeError("the fault-free run failed (see its worker.log)")
    return results["reference"], chaos


def _play_all(players: list[Player], stagger_s: float) -> None:
    """Start every incident's player, a little apart; each ends by itself (`finished`)."""
    for player in players:
        threading.Thread(target=player.play, daemon=True).start()
        time.sleep(stagger_s)


def collect(run: Run, player: Player) -> IncidentOutcome:
    outcome = IncidentOutcome(player.title, player.page_id, stuck=player.stuck)
    if not player.page_id:
        return outcome
    outcome.parents = [normalise(message_text(m)) for m in run.parents(player.page_id)]
    outcome.replies = [normalise(message_text(m)) for m in run.replies(player.page_id)]
    outcome.pages = child_pages(run.box, player.page_id, player.title)
    return outcome


def child_pages(box: Sandbox, page_id: str, title: str) -> dict[str, list[str]]:
    """The incident's child pages by kind (Timeline, Postmortem), as Markdown, read as a
    person reads them."""
    person = box.workspace.people[0]
    settings = Settings.from_env(
        {"NOTION_TOKEN": person.notion_token, "NOTION_BASE_URL": box.notion_base_url},
        require_workspace=False,
    )
    client = notion_client.Client(
        auth=person.notion_token,
        base_url=box.notion_base_url,
        retry=RetryOptions(max_retries=10, initial_retry_delay_ms=200),
        logger=_PEOPLE_LOG,
        log_level=logging.ERROR,
    )
    gateway = NotionGateway(client, settings)
    pages: dict[str, list[str]] = {kind: [] for kind in PAGE_KINDS}
    try:
        for block in gateway.list_children(page_id):
            if block.get("type") != "child_page" or block.get("in_trash"):
                continue
            name = str(block["child_page"]["title"])
            kind = name.removeprefix(title).removeprefix(" — ")
            markdown = blocks_to_markdown(gateway.read_tree(str(block["id"])))
            pages.setdefault(kind, []).append(normalise(markdown))
    finally:
        gateway.close()
    return pages


# --- the comparison -----------------------------------------------------------------------


@dataclass
class Tally:
    expected: int = 0
    lost: int = 0
    duplicated: int = 0
    mismatched: int = 0

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.mismatched)

    def line(self, what: str) -> str:
        return (
            f"{what}: {self.expected} expected, {self.lost} lost, {self.duplicated} duplicated, "
            f"{self.mismatched} mismatched"
        )


@dataclass
class Comparison:
    messages: Tally = field(default_factory=Tally)
    pages: Tally = field(default_factory=Tally)
    # Slack replies on the timelines (each once, struck when withdrawn, as edited), and the
    # thread's replies for updates posted with the button (one per submission).
    notes: Tally = field(default_factory=Tally)
    updates: Tally = field(default_factory=Tally)
    details: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return all(t.clean for t in (self.messages, self.pages, self.notes, self.updates))

    def tallies(self) -> list[Tally]:
        return [self.messages, self.pages, self.notes, self.updates]


def compare(reference: RunResult, chaos: RunResult) -> Comparison:
    """Lost, duplicated and mismatched messages and pages, incident by incident."""
    result = Comparison()
    chaos_by_title = {o.title: o for o in chaos.incidents}
    for ref in reference.incidents:
        got = chaos_by_title.get(ref.title) or IncidentOutcome(ref.title, "")
        if ref.stuck:
            result.details.append(f"{ref.title}: the fault-free run got stuck: {ref.stuck}")
        if got.stuck:
            result.details.append(f"{ref.title}: stuck: {got.stuck}")
        _compare_messages(ref, got, result)
        _compare_pages(ref, got, result)
        for tally, expected, actual, what in (
            (result.notes, ref.notes, got.notes, "timeline entries from Slack"),
            (result.updates, ref.updates_from_slack, got.updates_from_slack, "updates by button"),
        ):
            _tally(tally, expected, actual, f"{ref.title}: {what}", result.details)
    return result


def _tally(tally: Tally, expected: list[str], actual: list[str], what: str, out: list[str]) -> None:
    lost, duplicated, mismatched = sequence_difference(expected, actual)
    tally.expected += len(expected)
    tally.lost += lost
    tally.duplicated += duplicated
    tally.mismatched += mismatched
    if lost or duplicated or mismatched:
        out.append(f"{what}: {lost} lost, {duplicated} duplicated, {mismatched} mismatched")
        out.extend(_diff(expected, actual))


def _compare_messages(ref: IncidentOutcome, got: IncidentOutcome, result: Comparison) -> None:
    tally, title = result.messages, ref.title
    for expected, actual, what in (
        (ref.parents, got.parents, "parent message"),
        (ref.replies, got.replies, "replies"),
    ):
        lost, duplicated, mismatched = sequence_difference(expected, actual)
        tally.expected += len(expected)
        tally.lost += lost
        tally.duplicated += duplicated
        tally.mismatched += mismatched
        if lost or duplicated or mismatched:
            result.details.append(
                f"{title}: {what}: {lost} lost, {duplicated} duplicated, {mismatched} mismatched"
            )
            result.details.extend(_diff(expected, actual))


def sequence_difference(expected: list[str], actual: list[str]) -> tuple[int, int, int]:
    """(lost, duplicated, mismatched) between two sequences of normalised messages.

    Lost: expected and missing; duplicated: an expected message shown more often than in the
    reference; mismatched: a message that differs (or one nobody expected), and messages out
    of order.
    """
    want, have = Counter(expected), Counter(actual)
    missing = sum((want - have).values())
    extra = have - want
    duplicated = sum(n for text, n in extra.items() if text in want)
    unexpected = sum(n for text, n in extra.items() if text not in want)
    mismatched = min(missing, unexpected)
    lost = missing - mismatched
    mismatched += unexpected - min(missing, unexpected)
    if not (lost or duplicated or mismatched):
        matcher = difflib.SequenceMatcher(a=expected, b=actual, autojunk=False)
        in_order = sum(block.size for block in matcher.get_matching_blocks())
        mismatched = len(expected) - in_order
    return lost, duplicated, mismatched


def _compare_pages(ref: IncidentOutcome, got: IncidentOutcome, result: Comparison) -> None:
    tally = result.pages
    for kind in PAGE_KINDS:
        expected, actual = ref.pages.get(kind, []), got.pages.get(kind, [])
        tally.expected += len(expected)
        lost = max(0, len(expected) - len(actual))
        duplicated = max(0, len(actual) - len(expected))
        mismatched = int(bool(expected and actual) and actual[0] != expected[0])
        tally.lost += lost
        tally.duplicated += duplicated
        tally.mismatched += mismatched
        if lost or duplicated or mismatched:
            result.details.append(
                f"{ref.title}: {kind} page: {len(actual)} found"
                f"{', content differs' if mismatched else ''}"
            )
            if mismatched:
                result.details.extend(_diff(expected[0].splitlines(), actual[0].splitlines()))


def _diff(expected: Iterable[str], actual: Iterable[str], limit: int = 40) -> list[str]:
    lines = difflib.unified_diff(
        [s.replace("\n", " ⏎ ") for s in expected],
        [s.replace("\n", " ⏎ ") for s in actual],
        "fault-free",
        "chaos",
        lineterm="",
        n=1,
    )
    out = ["    " + line for line in lines]
    return out[:limit] + (["    …"] if len(out) > limit else [])
