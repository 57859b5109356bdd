"""Metrics: each observation lands in the runtime's own registry under its documented name."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import Harness, rich, select
from tests.factories import T0, at, row, settings
from worker.actions import Action, PostParent
from worker.metrics import Metrics
from worker.notion import response_hook
from worker.plan import Plan
from worker.record import IncidentRecord
from worker.reports import DeliveryReport, NagReport, PollReport
from worker.snapshot import parse_incident
from worker.store import Store, create_engine

# The names the README documents (counters without their _total suffix, as parsed).
DOCUMENTED = {
    "incident_worker_polls": "counter",
    "incident_worker_poll_duration_seconds": "histogram",
    "incident_worker_last_successful_poll_timestamp_seconds": "gauge",
    "incident_worker_leader": "gauge",
    "incident_worker_rows": "counter",
    "incident_worker_actions": "counter",
    "incident_worker_nag_passes": "counter",
    "incident_worker_nudges": "counter",
    "incident_worker_notion_requests": "counter",
    "incident_worker_notion_errors": "counter",
    "incident_worker_slack_requests": "counter",
    "incident_worker_slack_errors": "counter",
    "incident_worker_retries": "counter",
    "incident_worker_build_info": "gauge",
    "incident_worker_outbox_actions": "gauge",
    "incident_worker_open_incidents": "gauge",
    "incident_worker_state_store_up": "gauge",
}


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the registry by (name, sorted labels)."""
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics).get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_poll_is_counted_timed_and_remembered() -> None:
    metrics = Metrics(process_metrics=False)
    report = PollReport(
        rows=5,
        changed=2,
        row_errors=1,
        duration_s=0.3,
        delivery=DeliveryReport(done=3, retried=1, failed=0, reconciled=1),
    )
    metrics.observe_poll(report, T0)
    assert value(metrics, "incident_worker_polls_total", outcome="partial") == 1
    assert value(metrics, "incident_worker_polls_total", outcome="ok") == 0
    assert value(metrics, "incident_worker_poll_duration_seconds_count") == 1
    assert value(metrics, "incident_worker_poll_duration_seconds_sum") == pytest.approx(0.3)
    assert value(metrics, "incident_worker_last_successful_poll_timestamp_seconds") == (
        T0.timestamp()
    )
    assert value(metrics, "incident_worker_leader") == 1
    assert value(metrics, "incident_worker_rows_total", result="changed") == 2
    assert value(metrics, "incident_worker_rows_total", result="unchanged") == 2
    assert value(metrics, "incident_worker_rows_total", result="unreadable") == 1
    assert value(metrics, "incident_worker_actions_total", result="done") == 3
    assert value(metrics, "incident_worker_actions_total", result="retried") == 1
    assert value(metrics, "incident_worker_actions_total", result="reconciled") == 1

    metrics.poll_failed()
    metrics.observe_poll(None, T0)  # another replica leads
    assert value(metrics, "incident_worker_polls_total", outcome="failed") == 1
    assert value(metrics, "incident_worker_leader") == 0


def test_a_poll_that_waited_for_notion_is_counted_apart_and_is_no_success() -> None:
    metrics = Metrics(process_metrics=False)
    metrics.observe_poll(PollReport(rows=1), T0)
    metrics.observe_poll(PollReport(read_deferred=True), T0 + timedelta(seconds=15))
    assert value(metrics, "incident_worker_polls_total", outcome="waiting") == 1
    assert value(metrics, "incident_worker_polls_total", outcome="ok") == 1
    assert value(metrics, "incident_worker_last_successful_poll_timestamp_seconds") == (
        T0.timestamp()
    )


def test_nag_passes_count_nudges_and_their_delivery() -> None:
    metrics = Metrics(process_metrics=False)
    metrics.observe_nag(NagReport(queued=2, delivery=DeliveryReport(done=2)))
    metrics.observe_nag(None)
    metrics.nag_failed()
    assert value(metrics, "incident_worker_nudges_total") == 2
    assert value(metrics, "incident_worker_actions_total", result="done") == 2
    assert value(metrics, "incident_worker_nag_passes_total", outcome="ok") == 1
    assert value(metrics, "incident_worker_nag_passes_total", outcome="failed") == 1


def test_notion_answers_are_counted_by_status_and_error_code() -> None:
    metrics = Metrics(process_metrics=False)
    answers = iter(
        [
            httpx.Response(200, json={"object": "list"}),
            httpx.Response(429, json={"object": "error", "status": 429, "code": "rate_limited"}),
            httpx.Response(502, text="<html>Bad gateway</html>"),
        ]
    )
    client = httpx.Client(
        transport=httpx.MockTransport(lambda request: next(answers)),
        event_hooks={"response": [response_hook(metrics.notion_response)]},
    )
    bodies = [client.get("https://api.notion.test/v1/users/me") for _ in range(3)]
    # The hook reads error bodies; the client still sees them whole.
    assert bodies[1].json()["code"] == "rate_limited"
    metrics.notion_response(None, "timeout")
    assert value(metrics, "incident_worker_notion_requests_total", status="200") == 1
    assert value(metrics, "incident_worker_notion_requests_total", status="429") == 1
    assert value(metrics, "incident_worker_notion_requests_total", status="none") == 1
    errors = "incident_worker_notion_errors_total"
    assert value(metrics, errors, status="429", code="rate_limited") == 1
    assert value(metrics, errors, status="502", code="http_502") == 1
    assert value(metrics, errors, status="none", code="timeout") == 1
    assert not any(
        name == errors and ("status", "200") in labels for name, labels in samples(metrics)
    )


def test_slack_calls_are_counted_by_method_and_error() -> None:
    metrics = Metrics(process_metrics=False)
    metrics.slack_response("chat.postMessage", 200, None)
    metrics.slack_response("chat.postMessage", 200, "channel_not_found")
    metrics.slack_response("chat.update", 503, None)
    metrics.slack_response("chat.update", None, "connection")
    metrics.retry("slack")
    metrics.retry("notion")
    metrics.retry("notion")
    assert value(metrics, "incident_worker_slack_requests_total", method="chat.postMessage") == 2
    assert value(metrics, "incident_worker_slack_requests_total", method="chat.update") == 2
    errors = "incident_worker_slack_errors_total"
    assert value(metrics, errors, method="chat.postMessage", error="channel_not_found") == 1
    assert value(metrics, errors, method="chat.update", error="http_503") == 1
    assert value(metrics, errors, method="chat.update", error="connection") == 1
    assert value(metrics, "incident_worker_retries_total", service="slack") == 1
    assert value(metrics, "incident_worker_retries_total", service="notion") == 2


def test_two_runtimes_in_one_process_keep_their_own_counts() -> None:
    first, second = Metrics(), Metrics()
    first.poll_failed()
    assert value(first, "incident_worker_polls_total", outcome="failed") == 1
    assert value(second, "incident_worker_polls_total", outcome="failed") == 0
    assert value(first, "process_cpu_seconds_total") > 0


def test_the_store_is_read_at_scrape_time(tmp_path: Path) -> None:
    conf = settings()
    store = Store.open(f"sqlite:///{tmp_path}/state.db")
    try:
        for n, status in enumerate(["Investigating", "Monitoring", "Resolved"]):
            page_id = f"aaaaaaaa-aaaa-4aaa-8aaa-00000000000{n}"
            incident = parse_incident(row(page_id, status=status), conf)
            action = Action(f"parent:{page_id}", page_id, PostParent())
            store.save_plan(Plan(IncidentRecord(page_id, incident, "announced"), [action]), at(0.0))
        first = store.due_actions(at(1.0))[0]
        store.mark_done(first.id, None, at(1.0))
        metrics = Metrics(process_metrics=False)
        metrics.watch_state(store, conf)
        assert value(metrics, "incident_worker_open_incidents") == 2
        assert value(metrics, "incident_worker_outbox_actions", state="pending") == 2
        assert value(metrics, "incident_worker_outbox_actions", state="done") == 1
        assert value(metrics, "incident_worker_outbox_actions", state="failed") == 0
        assert value(metrics, "incident_worker_state_store_up") == 1
    finally:
        store.close()


def test_a_scrape_still_answers_when_the_store_does_not(tmp_path: Path) -> None:
    unreachable = Store(create_engine(f"sqlite:///{tmp_path}/missing/dir/state.db"))
    metrics = Metrics(process_metrics=False)
    metrics.watch_state(unreachable, settings())
    assert value(metrics, "incident_worker_state_store_up") == 0
    assert value(metrics, "incident_worker_polls_total", outcome="ok") == 0


def test_with_several_databases_each_ones_series_carry_its_name(tmp_path: Path) -> None:
    conf = settings(
        NOTION_INCIDENTS_DATABASE_ID=(
            "11111111111111111111111111111111,22222222222222222222222222222222"
        )
    )
    metrics = Metrics(process_metrics=False, per_database=True)
    payments, platform = metrics.for_database("Payments"), metrics.for_database("Platform")
    payments.observe_poll(PollReport(rows=2, changed=1), T0)
    platform.observe_poll(None, T0)  # another replica holds Platform
    platform.nag_failed()
    payments.notion_response(200)  # requests are the app's: one pace for every database
    assert value(metrics, "incident_worker_polls_total", outcome="ok", database="Payments") == 1
    assert value(metrics, "incident_worker_rows_total", result="changed", database="Payments") == 1
    assert value(metrics, "incident_worker_leader", database="Payments") == 1
    assert value(metrics, "incident_worker_leader", database="Platform") == 0
    assert (
        value(metrics, "incident_worker_nag_passes_total", outcome="failed", database="Platform")
        == 1
    )
    # Every known series of each database shows from the start, at 0.
    assert ("incident_worker_polls_total", (("database", "Platform"), ("outcome", "failed"))) in (
        samples(metrics)
    )
    assert value(metrics, "incident_worker_notion_requests_total", status="200") == 1

    store = Store.open(f"sqlite:///{tmp_path}/state.db")
    try:
        views = {
            "Payments": store.for_database("11111111-1111-4111-8111-111111111111", first=True),
            "Platform": store.for_database("22222222-2222-4222-8222-222222222222", first=False),
        }
        for n, (name, view) in enumerate(views.items()):
            page_id = f"aaaaaaaa-aaaa-4aaa-8aaa-00000000000{n}"
            incident = parse_incident(row(page_id, status="Investigating"), conf)
            action = Action(f"parent:{page_id}", page_id, PostParent())
            view.save_plan(Plan(IncidentRecord(page_id, incident, "announced"), [action]), T0)
            assert name in views
        metrics.watch_states(lambda: list(views.items()), conf)
        for name in views:
            assert value(metrics, "incident_worker_open_incidents", database=name) == 1
            assert (
                value(metrics, "incident_worker_outbox_actions", state="pending", database=name)
                == 1
            )
        assert value(metrics, "incident_worker_state_store_up") == 1
    finally:
        store.close()


def test_metrics_after_a_poll_against_the_sandbox(h: Harness) -> None:
    metrics = h.runtime.metrics
    h.declare("Aiko", "Checkout API returning 500s", Severity=select("SEV2"))
    resolved = h.declare("Ben", "Old outage", Status=select("Resolved"))
    before = time.time()
    h.poll()
    h.edit("Ben", resolved, Impact=rich("none left"))
    h.poll()
    h.poll()
    h.runtime.nag(datetime.now(UTC))

    text = generate_latest(metrics.registry).decode()
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert DOCUMENTED.items() <= families.items()
    assert value(metrics, "incident_worker_polls_total", outcome="ok") == 3
    assert value(metrics, "incident_worker_poll_duration_seconds_count") == 3
    assert 0 < value(metrics, "incident_worker_poll_duration_seconds_sum") < 30
    last = value(metrics, "incident_worker_last_successful_poll_timestamp_seconds")
    assert before - 1 <= last <= time.time()
    assert value(metrics, "incident_worker_rows_total", result="changed") >= 2
    assert value(metrics, "incident_worker_actions_total", result="done") >= 3
    assert value(metrics, "incident_worker_actions_total", result="failed") == 0
    assert value(metrics, "incident_worker_nag_passes_total", outcome="ok") == 1
    assert value(metrics, "incident_worker_outbox_actions", state="done") >= 3
    assert value(metrics, "incident_worker_outbox_actions", state="pending") == 0
    assert value(metrics, "incident_worker_notion_requests_total", status="200") > 0
    assert value(metrics, "incident_worker_slack_requests_total", method="chat.postMessage") > 0
    assert value(metrics, "incident_worker_open_incidents") == 1
    assert value(metrics, "incident_worker_leader") == 1
