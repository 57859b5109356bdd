"""Runtime: a worker built from the settings alone; plain errors when the state store or the
templates cannot be used; a replica acts only while it holds the lease; /healthz and the
metrics learn how each poll went; background work goes out between polls."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.harness import Harness, select
from tests.factories import settings
from tests.test_metrics import value
from worker.config import Settings
from worker.errors import ServiceError, WorkerError
from worker.plan import plan_row
from worker.runtime import Runtime
from worker.sandbox import Sandbox


def _recorded(h: Harness, runtime: Runtime, page: str, now: datetime) -> None:
    """What a poll records for the row: its plan's actions in the outbox, none carried out."""
    incident = runtime.notion.retrieve_incident(page)
    record = runtime.store.get_record(page)
    plan = plan_row(record, incident, runtime.settings, actor=None, now=now, first_run=False)
    runtime.store.save_plan(plan, now)


def _said(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "worker.runtime" and needle in r.getMessage()
    ]


def test_build_makes_a_working_worker_from_the_settings_alone(box: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "setup").mkdir()
    setup = Harness(box, tmp_path / "setup")  # an Incidents database
    setup.close()
    database_id = setup.database_id
    state = tmp_path / "own.db"
    own = Settings.from_env(
        {
            **box.worker_env(database_id),
            "DATABASE_URL": f"sqlite:///{state}",
            "POLL_INTERVAL": "2s",
            "NAG_INTERVAL": "30s",
            "NOTION_REQUESTS_PER_SECOND": "1000",
            "SLACK_POSTS_PER_SECOND": "1000",
            "SLACK_TIER_PACING": "off",
        }
    )
    runtime = Runtime.build(own)
    try:
        runtime.start()
        assert runtime.identity.notion_user_id == box.workspace.notion_bot_id  # its edits: its own
        assert box.workspace.slack_bot_user_id in box.slack.members(box.workspace.slack_channel_id)
        assert [(job.name, job.interval_s) for job in runtime.loop().jobs] == [
            ("poll", 2.0),
            ("nag", 30.0),
        ]
        report = runtime.poll(datetime.now(UTC))
        assert report is not None
        assert report.rows == 0
        assert state.exists()
    finally:
        runtime.close()


def test_a_private_channel_the_app_was_invited_to_is_where_it_posts(
    box: Sandbox, tmp_path: Path
) -> None:
    # An app cannot join a private channel itself: someone invites it, and start takes that.
    private = box.slack.create_channel("incidents-private", bot_is_member=True)
    h = Harness(box, tmp_path, SLACK_CHANNEL_ID=private)
    try:
        h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
        h.poll()
        assert len(box.slack.channel_messages(private)) == 1
        assert box.slack.channel_messages(box.workspace.slack_channel_id) == []
    finally:
        h.close()


def test_a_damaged_state_file_is_a_plain_error_saying_what_to_do(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    damaged = b"this is not a SQLite database" * 100
    state.write_bytes(damaged)
    with pytest.raises(WorkerError) as caught:
        Runtime.build(settings(DATABASE_URL=f"sqlite:///{state}"))
    text = str(caught.value)
    assert text.startswith("DATABASE_URL: cannot open the state store")
    assert "move it aside" in text  # it is rebuilt from Notion, nothing announced twice
    assert state.read_bytes() == damaged  # left as it was, for whoever looks into it


def test_a_templates_folder_without_the_wording_is_a_plain_error(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    with pytest.raises(WorkerError) as caught:
        Runtime.build(
            settings(
                DATABASE_URL=f"sqlite:///{tmp_path / 'state.db'}",
                TEMPLATES_DIR=str(tmp_path / "templates"),
            )
        )
    assert str(caught.value).startswith(
        f"TEMPLATES_DIR: cannot read {tmp_path / 'templates' / 'en' / 'slack.toml'}"
    )
    assert "copy the bundled templates folder" in str(caught.value)


def test_a_replica_that_does_not_hold_the_lease_stands_by_and_takes_over_when_freed(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="worker.runtime")
    now = datetime.now(UTC)
    leader = h.runtime
    assert leader.poll(now) is not None
    standby = Runtime.build(h.settings())
    try:
        standby.start()
        h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
        assert standby.poll(now) is None
        assert standby.nag(now) is None
        assert standby.deliver(now) is None
        assert standby.poll(now + timedelta(seconds=1)) is None
        assert h.top_level() == []  # it announced nothing
        health = standby.health.check(now)
        assert health.ok
        assert health.body["role"] == "standby"
        assert len(_said(caplog, "standing by")) == 1  # said once, not every poll

        leader.close()  # a clean stop gives the lease up at once
        later = now + timedelta(seconds=2)
        report = standby.poll(later)
        assert report is not None
        assert report.changed == 1
        assert len(h.top_level()) == 1
        assert len(_said(caplog, f"leading as {standby.lease.holder}")) == 1
        assert standby.health.check(later).body["role"] == "leader"
    finally:
        h.runtime = standby  # the harness closes it


def test_a_leader_that_lost_the_lease_sends_nothing_more(h: Harness) -> None:
    now = datetime.now(UTC)
    paused = h.runtime
    assert paused.lead(now)
    page = h.declare("Aiko", "Checkout down", Severity=select("SEV2"))
    _recorded(h, paused, page, now)
    # It stalls past its lease (a long GC pause, a frozen container): another takes over.
    other = Runtime.build(h.settings())
    try:
        other.start()
        takeover = now + timedelta(seconds=paused.settings.lease_s + 1)
        assert other.lead(takeover)
        paused.deliver(takeover)  # it has not noticed yet: its claim is refused
        assert h.top_level() == []
        report = other.deliver(takeover)
        assert report is not None
        assert len(h.top_level()) == 1  # sent once, by the replica holding the lease
    finally:
        other.close()


def test_a_failing_poll_is_told_to_health_and_metrics_and_raised(h: Harness) -> None:
    now = datetime.now(UTC)
    runtime = h.runtime
    assert runtime.poll(now) is not None
    assert value(runtime.metrics, "incident_worker_polls_total", outcome="ok") == 1
    parent = h.box.workspace.parent_page_id
    h.box.notion.share(parent, shared=False)
    failed = now + timedelta(seconds=1)
    with pytest.raises(ServiceError):
        runtime.poll(failed)
    health = runtime.health.check(failed)
    assert health.ok  # one failed poll: not yet a reason to restart
    assert health.body["failing_since"] == failed.isoformat(timespec="seconds")
    assert "••• → Connections" in health.body["last_error"]
    assert value(runtime.metrics, "incident_worker_polls_total", outcome="failed") == 1

    h.box.notion.share(parent, shared=True)
    back = now + timedelta(seconds=2)
    assert runtime.poll(back) is not None
    assert "failing_since" not in runtime.health.check(back).body
    assert value(runtime.metrics, "incident_worker_polls_total", outcome="ok") == 2


def test_background_work_left_by_a_pass_goes_out_between_polls_until_the_next_is_due(
    h: Harness,
) -> None:
    now = datetime.now(UTC)
    runtime = h.runtime
    assert runtime.lead(now)
    pages = [h.declare("Aiko", f"Incident {n}", Severity=select("SEV3")) for n in range(3)]
    for page in pages:
        _recorded(h, runtime, page, now)
    delivery = runtime.deliver(now, 0.0)  # announced; the page work mostly left for later
    assert delivery is not None
    assert delivery.deferred
    assert len(h.top_level()) == 3

    def timelines() -> int:
        return sum(len(h.child_pages(p)) for p in pages)

    made = timelines()
    runtime.between_polls(delivery, until_s=time.monotonic() - 1)  # the next poll is due
    assert timelines() == made  # nothing more: the poll goes first
    started = time.monotonic()
    runtime.between_polls(delivery, until_s=started + 30)
    assert timelines() == 3
    assert time.monotonic() - started < 10  # returned once nothing was left, not at 30 s
