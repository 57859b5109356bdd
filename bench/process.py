"""Benchmarks: the worker as its own process (`incident-worker run`, as in production) against a
sandbox served from the benchmark's process; people acting in Notion; what Slack shows; the
worker's CPU and memory read from /proc."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import notion_client
from common import progress
from traffic import Traffic

from tests.waiting import wait_until
from worker.config import Settings
from worker.notion import NotionGateway
from worker.provision import setup_incidents
from worker.sandbox import Sandbox, SandboxOptions
from worker.sandbox.workspace import SandboxPerson

_CLOCK_TICKS_S = os.sysconf("SC_CLK_TCK")
_PENDING = "SELECT COALESCE(SUM(state IN ('pending', 'sending')), 0) FROM outbox"


class WorkerProcess:
    """`python -m worker run` with its own environment, state and log file."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str = "worker") -> None:
        self.env = env
        self.workdir = workdir
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "worker", "run"],
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} was not started")
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            tail = self.log_tail()
            raise RuntimeError(f"{self.name} exited; the end of its log:\n{tail}")

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def cpu_s(self) -> float:
        """User + system CPU seconds of the process so far (all its threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # After the command name: state is field 3, utime field 14, stime field 15.
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS_S

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for {self.name}")

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM, as an operator stops it; SIGKILL if it does not end in time."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Scene:
    """A sandbox with one or more Incidents databases, the traffic it answers, the people who
    edit rows, and the worker processes pointed at it (stopped when the scene ends)."""

    def __init__(self, box: Sandbox, workdir: Path) -> None:
        self.box = box
        self.workdir = workdir
        self.traffic = Traffic(box)
        self.workers: list[WorkerProcess] = []
        self.database_id = ""
        self.data_source_id = ""
        self.channel = box.workspace.slack_channel_id

    # -- set-up ------------------------------------------------------------------------------

    def add_database(self, title: str = "Incidents") -> tuple[str, str]:
        """A new Incidents database under the workspace's parent page, as `setup` makes it:
        (database id, data source id). The first one is the scene's own."""
        bootstrap = Settings.from_env(
            {
                "NOTION_TOKEN": self.box.workspace.notion_token,
                "NOTION_BASE_URL": self.box.notion_base_url,
            },
            require_workspace=False,
        )
        gateway = NotionGateway.build(bootstrap)
        try:
            parent = self.box.workspace.parent_page_id
            result = setup_incidents(gateway, bootstrap, parent, title=title)
            ids = result.database_id, gateway.data_source_of(result.database_id)
        finally:
            gateway.close()
        if not self.database_id:
            self.database_id, self.data_source_id = ids
        return ids

    def add_channel(self, name: str) -> str:
        """A public channel the bot is in (a database's own incidents channel)."""
        return str(self.box.slack.create_channel(name, is_private=False, bot_is_member=True))

    def worker_env(self, *, fast: bool, **settings: str) -> dict[str, str]:
        """The environment of `incident-worker run` on this scene's database; `fast` when the
        sandbox has no rate limits (the worker need not pace itself then)."""
        env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")},
            **self.box.worker_env(self.database_id),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "LOG_FORMAT": "text",
            "POLL_INTERVAL": "1s",
        }
        if fast:
            env |= {
                "NOTION_REQUESTS_PER_SECOND": "1000",
                "SLACK_POSTS_PER_SECOND": "1000",
                "SLACK_TIER_PACING": "off",
            }
        env.update(settings)
        return env

    def start_worker(self, env: dict[str, str], name: str = "worker") -> WorkerProcess:
        worker = WorkerProcess(env, self.workdir / name, name).start()
        self.workers.append(worker)
        return worker

    def wait_polling(self, worker: WorkerProcess, timeout_s: float = 120.0) -> None:
        """Until the worker (just started) has polled twice: its checks and start are over."""
        polls = self.traffic.polls

        def polling() -> bool:
            worker.check_alive()
            return self.traffic.polls >= polls + 2

        wait_until(f"{worker.name} to poll", polling, timeout_s=timeout_s, every_s=0.05)

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers.clear()

    # -- people in Notion ----------------------------------------------------------------------

    def person(self, name: str) -> SandboxPerson:
        return self.box.workspace.person(name)

    def client(self, who: str) -> notion_client.Client:
        return notion_client.Client(
            auth=self.person(who).notion_token, base_url=self.box.notion_base_url
        )

    def declare(self, who: str, data_source_id: str = "", **props: dict[str, Any]) -> str:
        """A row created by a person over HTTP."""
        client = self.client(who)
        try:
            page = client.pages.create(
                parent={"data_source_id": data_source_id or self.data_source_id},
                properties=props,
            )
        finally:
            client.close()
        return str(page["id"])  # type: ignore[index]

    def edit(self, who: str, page_id: str, **props: dict[str, Any]) -> None:
        client = self.client(who)
        try:
            client.pages.update(page_id=page_id, properties=props)
        finally:
            client.close()

    def insert(
        self, rows: list[dict[str, Any]], as_user: str, data_source_id: str = ""
    ) -> list[str]:
        """Rows created in bulk (no HTTP, no rate limit), as by an import."""
        source = data_source_id or self.data_source_id
        return [str(page) for page in self.box.notion.insert_pages(source, rows, as_user=as_user)]

    # -- what the worker did, as people see it -------------------------------------------------

    def urls_written(self, pages: list[str], prop: str, data_source_id: str = "") -> int:
        """How many of `pages` have the url property `prop` (written by the worker) set, read
        from the emulator's state: no HTTP, so watching costs no request and no budget."""
        with self.box.notion.lock:
            state = self.box.notion.state
            source = state.data_sources[data_source_id or self.data_source_id]
            prop_id = next(p["id"] for p in source.properties if p["name"] == prop)
            return sum(1 for page in pages if state.pages[page].properties.get(prop_id))

    def parents(self, channel: str = "") -> dict[str, str]:
        """Page id → ts of its parent message in the channel (the worker keys each parent
        `post_parent:<page id>` in the message's metadata)."""
        found: dict[str, str] = {}
        for message in self.box.slack.channel_messages(channel or self.channel):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            key = str(payload.get("key", ""))
            if key.startswith("post_parent:"):
                found.setdefault(key.rsplit(":", 1)[-1], str(message["ts"]))
        return found

    def thread_ts(self, page_id: str, channel: str = "", timeout_s: float = 120.0) -> str:
        return str(
            wait_until(
                "the parent message",
                lambda: self.parents(channel).get(page_id),
                timeout_s=timeout_s,
                every_s=0.1,
            )
        )

    def replies(self, ts: str, channel: str = "") -> list[dict[str, Any]]:
        thread: list[dict[str, Any]] = self.box.slack.thread(channel or self.channel, ts)
        return thread[1:]


def outbox_pending(worker: WorkerProcess) -> int | None:
    """Actions the worker has yet to carry out, read from its SQLite state file (read-only);
    None when it cannot be read (not created yet, or busy)."""
    path = worker.workdir / "state.db"
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute(_PENDING).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return int(row[0]) if row else None


def settled(scene: Scene, worker: WorkerProcess, quiet_s: float = 3.0) -> bool:
    """Nothing left in the outbox and no request but polls for `quiet_s`."""
    worker.check_alive()
    if outbox_pending(worker) != 0:
        return False
    last = scene.traffic.last_worker_request_at()
    return last is None or time.monotonic() - last >= quiet_s


def wait_settled(
    scene: Scene, worker: WorkerProcess, *, quiet_s: float = 3.0, timeout_s: float = 300.0
) -> None:
    wait_until(
        f"{worker.name} to finish its work",
        lambda: settled(scene, worker, quiet_s),
        timeout_s=timeout_s,
        every_s=0.25,
    )


@contextmanager
def scene(options: SandboxOptions, label: str) -> Iterator[Scene]:
    """A started sandbox with one Incidents database, a scratch directory; the workers
    stopped and the sandbox closed at the end (their logs kept only when it fails)."""
    keep = False
    tmp = tempfile.mkdtemp(prefix=f"iw-bench-{label}-")
    with Sandbox(options) as box:
        s = Scene(box, Path(tmp))
        s.add_database()
        try:
            yield s
        except BaseException:
            keep = True
            progress(f"{label}: failed; worker logs kept in {tmp}")
            raise
        finally:
            s.stop_workers()
    if not keep:
        shutil.rmtree(tmp, ignore_errors=True)


def sample_edit(
    s: Scene,
    page: str,
    ts: str,
    edit: Callable[[], None],
    *,
    channel: str = "",
    timeout_s: float = 120.0,
    every_s: float = 0.02,
) -> float:
    """Seconds from a person's edit (once Notion answered it) to a new reply in the thread."""
    before = len(s.replies(ts, channel))
    edit()
    edited = time.perf_counter()
    wait_until(
        f"the reply in the thread of {page}",
        lambda: len(s.replies(ts, channel)) > before,
        timeout_s=timeout_s,
        every_s=every_s,
    )
    return time.perf_counter() - edited
