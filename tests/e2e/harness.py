"""End-to-end harness: the real worker, the real clients and the sandbox, driven step by step."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import notion_client

from worker.check import CheckResult, settings_results
from worker.cli import run_checks
from worker.config import BUNDLED_TEMPLATES, Settings
from worker.notion import NotionGateway
from worker.provision import setup_incidents
from worker.reports import PollReport
from worker.runtime import Runtime
from worker.runtimes import Runtimes
from worker.sandbox import Sandbox, SandboxOptions
from worker.sandbox.notion.limits import NotionLimits
from worker.sandbox.people import people, rich, select, title
from worker.sandbox.ratelimit import RateLimit
from worker.sandbox.workspace import SandboxPerson
from worker.scheduler import Loop
from worker.store import outbox_table

__all__ = [
    "Databases",
    "Harness",
    "check",
    "check_env",
    "check_line",
    "fast_options",
    "message_text",
    "page_markdown",
    "people",
    "rich",
    "select",
    "title",
    "with_template",
]


class Harness:
    """One Incidents database in a sandbox and a worker whose state lives in `state_dir`."""

    def __init__(
        self, box: Sandbox, state_dir: Path, *, with_postmortems: bool = False, **env: str
    ) -> None:
        self.box = box
        self.state_dir = state_dir
        self.env = env
        if not box.options.notion_limits.enabled:
            # The sandbox does not limit this run: no need to pace like for the real Notion.
            self.env.setdefault("NOTION_REQUESTS_PER_SECOND", "1000")
        if not box.options.slack_post_rate.enabled:
            self.env.setdefault("SLACK_POSTS_PER_SECOND", "1000")
        if not box.options.slack_tier_limits:
            self.env.setdefault("SLACK_TIER_PACING", "off")
        bootstrap = Settings.from_env(
            {"NOTION_TOKEN": box.workspace.notion_token, "NOTION_BASE_URL": box.notion_base_url},
            require_workspace=False,
        )
        gateway = NotionGateway.build(bootstrap)
        try:
            result = setup_incidents(
                gateway, bootstrap, box.workspace.parent_page_id, with_postmortems=with_postmortems
            )
            self.database_id = result.database_id
            if result.postmortem_database_id:
                self.env.setdefault("POSTMORTEM_DATABASE_ID", result.postmortem_database_id)
        finally:
            gateway.close()
        self.runtime = self.start_worker()
        self.data_source_id = self.runtime.notion.data_source_id()

    @property
    def channel(self) -> str:
        return self.box.workspace.slack_channel_id

    def settings(self) -> Settings:
        env = {
            **self.box.worker_env(self.database_id),
            "DATABASE_URL": f"sqlite:///{self.state_dir / 'state.db'}",
            "POLL_INTERVAL": "1s",
        }
        env.update(self.env)
        return Settings.from_env(env)

    def start_worker(self) -> Runtime:
        runtime = Runtime.build(self.settings())
        runtime.start()
        return runtime

    def restart(self, *, lose_state: bool = False) -> None:
        self.runtime.close()
        if lose_state:
            for path in self.state_dir.glob("state.db*"):
                path.unlink()
        self.runtime = self.start_worker()

    def close(self) -> None:
        self.runtime.close()

    def retry_now(self) -> None:
        """Make every waiting action due (as if its backoff had run out)."""
        with self.runtime.store.transaction() as conn:
            conn.execute(outbox_table.update().values(not_before=0.0))

    # --- people acting in Notion ------------------------------------------------------------

    @contextmanager
    def on_scheduler(self) -> Iterator[Loop]:
        """The worker on its own scheduler (as `incident-worker run` runs it), in a thread."""
        loop = self.runtime.loop()
        thread = threading.Thread(target=loop.run_until_stopped, daemon=True)
        thread.start()
        try:
            yield loop
        finally:
            loop.stop()
            thread.join(15)
            loop.wait_idle(15)  # a test goes on with the store: no pass may still be using it

    def person(self, name: str) -> SandboxPerson:
        return self.box.workspace.person(name)

    def client(self, who: str) -> notion_client.Client:
        return notion_client.Client(
            auth=self.person(who).notion_token, base_url=self.box.notion_base_url
        )

    def declare(self, who: str, name: str, **props: dict[str, Any]) -> str:
        client = self.client(who)
        try:
            page = client.pages.create(
                parent={"data_source_id": self.data_source_id},
                properties={"Name": title(name), **props},
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

    def row(self, page_id: str) -> dict[str, Any]:
        client = self.client("Aiko")
        try:
            page: dict[str, Any] = client.pages.retrieve(page_id=page_id)  # type: ignore[assignment]
        finally:
            client.close()
        return page

    # --- the worker and what Slack shows ----------------------------------------------------

    def poll(self) -> PollReport:
        report = self.runtime.poll(datetime.now(UTC))
        assert report is not None, "this worker does not hold the lease"
        return report

    def top_level(self) -> list[dict[str, Any]]:
        return self.box.slack.channel_messages(self.channel)

    def thread_of(self, page_id: str) -> list[dict[str, Any]]:
        record = self.runtime.store.get_record(page_id)
        assert record is not None, "the worker does not know this incident"
        assert record.thread_ts, "the incident has no thread"
        return self.box.slack.thread(self.channel, record.thread_ts)

    def child_pages(self, page_id: str) -> list[str]:
        """The titles of the pages under a row (where a timeline or postmortem goes)."""
        return [
            b["child_page"]["title"]
            for b in self.runtime.notion.list_children(page_id)
            if b["type"] == "child_page"
        ]

    def replies_text(self, page_id: str) -> list[str]:
        return [message_text(m) for m in self.thread_of(page_id)[1:]]


class Databases:
    """Several Incidents databases in one sandbox, each set up like `Harness`'s, the first
    posting to #incidents and each other one to a channel of its own (INCIDENT_ROUTES), and
    one worker following them all, its state in `state_dir` (or `database_url`)."""

    def __init__(
        self,
        box: Sandbox,
        state_dir: Path,
        titles: tuple[str, ...] = ("Incidents", "Platform incidents"),
        *,
        database_url: str | None = None,
        start: bool = True,
        **env: str,
    ) -> None:
        self.box = box
        self.state_dir = state_dir
        self.titles = titles
        bootstrap = Settings.from_env(
            {"NOTION_TOKEN": box.workspace.notion_token, "NOTION_BASE_URL": box.notion_base_url},
            require_workspace=False,
        )
        gateway = NotionGateway.build(bootstrap)
        try:
            parent = box.workspace.parent_page_id
            self.database_ids = [
                setup_incidents(gateway, bootstrap, parent, title=t).database_id for t in titles
            ]
            self.data_source_ids = [gateway.data_source_of(d) for d in self.database_ids]
        finally:
            gateway.close()
        self.channels = [box.workspace.slack_channel_id] + [
            box.slack.create_channel(f"db-{n}-incidents", is_private=False)
            for n in range(1, len(titles))
        ]
        routes = ",".join(f"{d}={c}" for d, c in zip(self.database_ids, self.channels, strict=True))
        self.env = {
            **box.worker_env(self.database_ids[0]),
            "NOTION_INCIDENTS_DATABASE_ID": ",".join(self.database_ids),
            "INCIDENT_ROUTES": routes.split(",", 1)[1],  # the first: SLACK_CHANNEL_ID
            "DATABASE_URL": database_url or f"sqlite:///{state_dir / 'state.db'}",
            "POLL_INTERVAL": "1s",
            "NOTION_REQUESTS_PER_SECOND": "1000",
            "SLACK_POSTS_PER_SECOND": "1000",
            "SLACK_TIER_PACING": "off",
            **env,
        }
        self.runtimes = self.start_worker() if start else None

    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    def start_worker(self, **build: Any) -> Runtimes:
        runtimes = Runtimes.build(self.settings(), **build)
        runtimes.start()
        return runtimes

    @property
    def worker(self) -> Runtimes:
        assert self.runtimes is not None, "no worker started"
        return self.runtimes

    def restart(self) -> None:
        self.worker.close()
        self.runtimes = self.start_worker()

    def close(self) -> None:
        if self.runtimes is not None:
            self.runtimes.close()

    def poll(self, now: datetime | None = None) -> list[PollReport | None]:
        """One poll of every database (None where another replica holds it)."""
        moment = now or datetime.now(UTC)
        return [runtime.poll(moment) for runtime in self.worker.runtimes]

    def declare(self, database: int, who: str, name: str, **props: dict[str, Any]) -> str:
        client = self.client(who)
        try:
            page = client.pages.create(
                parent={"data_source_id": self.data_source_ids[database]},
                properties={"Name": title(name), **props},
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

    def client(self, who: str) -> notion_client.Client:
        person = self.box.workspace.person(who)
        return notion_client.Client(auth=person.notion_token, base_url=self.box.notion_base_url)

    def top_level(self, database: int) -> list[dict[str, Any]]:
        """The messages in the channel of `database` (not in threads)."""
        return self.box.slack.channel_messages(self.channels[database])

    def thread(
        self, database: int, page_id: str, worker: Runtimes | None = None
    ) -> list[dict[str, Any]]:
        """The thread of an incident of `database`, as its worker recorded it."""
        record = (worker or self.worker).runtimes[database].store.get_record(page_id)
        assert record is not None, "the worker does not know this incident"
        assert record.thread_ts, "the incident has no thread"
        return self.box.slack.thread(self.channels[database], record.thread_ts)


def fast_options(**overrides: object) -> SandboxOptions:
    """The sandbox with Notion's and Slack's rate limits off (tests that need them say so)."""
    options: dict[str, object] = {
        "notion_limits": NotionLimits.off(),
        "slack_post_rate": RateLimit(0, 0),
        "slack_tier_limits": False,
    }
    options.update(overrides)
    return SandboxOptions(**options)  # type: ignore[arg-type]


def with_template(box: Sandbox, tmp_path: Path, name: str, source: str) -> tuple[Harness, Path]:
    """A harness whose templates are a copy of the bundled ones with `en/<name>` replaced;
    the copy's folder, to mend it."""
    templates = tmp_path / "templates"
    shutil.copytree(BUNDLED_TEMPLATES, templates)
    (templates / "en" / name).write_text(source, "utf-8")
    state = tmp_path / "state"
    state.mkdir()
    return Harness(box, state, TEMPLATES_DIR=str(templates)), templates


def message_text(message: dict[str, Any]) -> str:
    """All the text of a message: its fallback text and every text object in its blocks."""
    parts = [str(message.get("text", ""))]
    for block in message.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(str(text.get("text", "")))
        for item in block.get("fields") or []:
            parts.append(str(item.get("text", "")))
        for item in block.get("elements") or []:
            parts.append(str(item.get("text", "")))
    return "\n".join(parts)


def page_markdown(box: Sandbox, page_id: str) -> str:
    """A Notion page read back as Markdown, the way people would see its content."""
    from worker.pages.to_markdown import blocks_to_markdown

    gateway = NotionGateway(
        notion_client.Client(auth=box.workspace.notion_token, base_url=box.notion_base_url),
        Settings.from_env({"NOTION_TOKEN": box.workspace.notion_token}, require_workspace=False),
    )
    try:
        return blocks_to_markdown(gateway.read_tree(page_id))
    finally:
        gateway.close()


def check_env(h: Harness, **overrides: str) -> dict[str, str]:
    """The environment `check` would see for this harness (what Harness.settings builds)."""
    env = {
        **h.box.worker_env(h.database_id),
        "DATABASE_URL": f"sqlite:///{h.state_dir / 'state.db'}",
        **h.env,
    }
    env.update(overrides)
    return env


def check(env: dict[str, str]) -> list[CheckResult]:
    """What `incident-worker check` reports, in process."""
    settings, results = settings_results(env)
    if settings is None:
        return results
    return results + run_checks(settings)


def check_line(results: list[CheckResult], name: str) -> CheckResult:
    """The one result of `check` named `name`."""
    (result,) = [r for r in results if r.name == name]
    return result
