"""Health rules: healthy while the last successful poll is recent; otherwise the reason why."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.factories import T0, settings
from worker.errors import ServiceError
from worker.health import DatabasesHealth, Health, default_max_age_s


def health() -> Health:
    return Health(poll_interval_s=15.0, secrets=("ntn_" + "s" * 20,))


def test_the_default_limit_is_three_polls_and_thirty_seconds() -> None:
    assert default_max_age_s(15.0) == 75.0
    assert Health.for_settings(settings(POLL_INTERVAL="1m")).max_age_s == 210.0
    assert Health.for_settings(settings(HEALTH_MAX_AGE="10m")).max_age_s == 600.0


def test_before_any_poll_it_is_unavailable() -> None:
    check = health().check(T0)
    assert not check.ok
    assert check.reason == "no poll has run yet"
    assert check.body["status"] == "unavailable"
    assert check.body["last_successful_poll"] is None


def test_while_the_first_poll_runs_it_says_since_when() -> None:
    h = health()
    h.poll_started(T0)
    check = h.check(T0 + timedelta(seconds=5))
    assert not check.ok
    assert (
        check.reason == "no poll has finished yet (the first started at 2026-11-28T09:00:00+00:00)"
    )


def test_a_successful_poll_makes_it_healthy() -> None:
    h = health()
    h.poll_started(T0)
    h.poll_succeeded(T0)
    check = h.check(T0 + timedelta(seconds=20))
    assert check.ok
    assert check.body == {
        "status": "ok",
        "role": "leader",
        "last_successful_poll": "2026-11-28T09:00:00+00:00",
        "age_s": 20.0,
        "max_age_s": 75.0,
    }


def test_failing_polls_before_any_success_say_since_when_and_why() -> None:
    h = health()
    error = ServiceError(
        "notion", "databases.retrieve", "API token is invalid.", code="unauthorized"
    )
    h.poll_failed(T0, error)
    h.poll_failed(T0 + timedelta(seconds=15), error)
    check = h.check(T0 + timedelta(seconds=16))
    assert not check.ok
    assert check.reason == (
        "no successful poll yet: polls failing since 2026-11-28T09:00:00+00:00: "
        "notion databases.retrieve failed [unauthorized]: API token is invalid."
    )
    assert check.body["failing_since"] == "2026-11-28T09:00:00+00:00"


def test_a_failure_after_a_recent_success_is_reported_but_still_healthy() -> None:
    """One failed poll (a Notion blip) must not flip /healthz: the next poll tries again."""
    h = health()
    h.poll_succeeded(T0)
    h.poll_failed(T0 + timedelta(seconds=15), TimeoutError("read timed out"))
    check = h.check(T0 + timedelta(seconds=20))
    assert check.ok
    assert check.body["last_error"] == "TimeoutError: read timed out"
    assert check.body["failing_since"] == "2026-11-28T09:00:15+00:00"


@pytest.mark.parametrize(
    ("failing", "running", "tail"),
    [
        (False, False, ""),
        (True, False, "; polls failing since 2026-11-28T09:00:15+00:00: RuntimeError: db down"),
        (False, True, "; a poll has been running since 2026-11-28T09:00:15+00:00"),
    ],
)
def test_a_stale_success_is_unavailable_with_what_happened_since(
    failing: bool, running: bool, tail: str
) -> None:
    h = health()
    h.poll_succeeded(T0)
    later = T0 + timedelta(seconds=15)
    if failing:
        h.poll_failed(later, RuntimeError("db down"))
    if running:
        h.poll_started(later)
    assert h.check(T0 + timedelta(seconds=75)).ok
    check = h.check(T0 + timedelta(seconds=76))
    assert not check.ok
    assert check.reason == (
        "the last successful poll was 76 s ago (2026-11-28T09:00:00+00:00), more than 75 s" + tail
    )
    assert check.body["reason"] == check.reason


def test_a_success_clears_the_failure() -> None:
    h = health()
    h.poll_failed(T0, RuntimeError("db down"))
    h.poll_succeeded(T0 + timedelta(seconds=15))
    check = h.check(T0 + timedelta(seconds=16))
    assert check.ok
    assert "failing_since" not in check.body


def test_a_standby_replica_is_healthy() -> None:
    h = health()
    h.poll_succeeded(T0, leader=False)
    check = h.check(T0 + timedelta(seconds=1))
    assert check.ok
    assert check.body["role"] == "standby"


def test_stopping_is_unavailable_at_once() -> None:
    h = health()
    h.poll_succeeded(T0)
    h.stop()
    check = h.check(T0)
    assert not check.ok
    assert check.reason == "the worker is stopping"


def test_error_summaries_hide_secrets_and_stay_short() -> None:
    h = health()
    h.poll_failed(T0, RuntimeError("token ntn_" + "s" * 20 + " rejected\nsecond line"))
    assert h.check(T0).body["last_error"] == "RuntimeError: token *** rejected"
    h.poll_failed(T0, RuntimeError("x" * 1000))
    assert len(h.check(T0).body["last_error"]) == 300


_UNTIL = T0 + timedelta(minutes=5)
_WHY = "the request limit shared by the workspace's integrations is reached"


def test_polls_waiting_for_notion_keep_it_healthy_and_say_until_when() -> None:
    """A wait Notion asked for (here five minutes, its workspace limit) is no outage: a
    restart would not shorten it. /healthz stays 200 and says what the worker waits for."""
    h = health()
    h.poll_succeeded(T0)
    for minute in range(1, 5):
        h.poll_waited(T0 + timedelta(minutes=minute), _UNTIL, _WHY)
    check = h.check(T0 + timedelta(minutes=4, seconds=10))
    assert check.ok, check.reason
    assert check.body["last_successful_poll"] == "2026-11-28T09:00:00+00:00"
    assert check.body["waiting_for_notion"] == {
        "until": "2026-11-28T09:05:00+00:00",
        "reason": _WHY,
        "note": "Notion asked the worker to wait (its rate limit): nothing is sent to Notion "
        "until then; Slack work goes on",
    }
    h.poll_succeeded(_UNTIL)
    assert "waiting_for_notion" not in h.check(_UNTIL + timedelta(seconds=1)).body


def test_a_poll_that_read_its_rows_may_still_note_a_wait() -> None:
    h = health()
    h.poll_succeeded(T0, notion_wait=(T0 + timedelta(seconds=60), "budget spent"))
    check = h.check(T0 + timedelta(seconds=30))
    assert check.ok
    assert check.body["waiting_for_notion"]["until"] == "2026-11-28T09:01:00+00:00"
    assert "waiting_for_notion" not in h.check(T0 + timedelta(seconds=61)).body


def test_waiting_at_startup_is_healthy_too() -> None:
    h = health()
    h.poll_waited(T0, _UNTIL, _WHY)
    assert h.check(T0 + timedelta(seconds=30)).ok


def test_a_loop_that_stopped_while_waiting_is_unavailable() -> None:
    """Waiting is healthy only while polls keep coming: a stuck loop still shows."""
    h = health()
    h.poll_succeeded(T0)
    h.poll_waited(T0 + timedelta(seconds=15), _UNTIL, _WHY)
    check = h.check(T0 + timedelta(seconds=91))
    assert not check.ok
    assert check.reason == (
        "the last poll (it waited for Notion's rate limit) was 76 s ago "
        "(2026-11-28T09:00:15+00:00), more than 75 s"
    )


# --- several databases ---------------------------------------------------------------------


def test_several_databases_answer_each_for_itself() -> None:
    payments, platform = health(), health()
    payments.poll_succeeded(T0)
    platform.poll_succeeded(T0, leader=False, held_by="host-2:41:ab12cd")
    both = DatabasesHealth(lambda: [("Payments", payments), ("Platform", platform)])
    check = both.check(T0 + timedelta(seconds=1))
    assert check.ok
    assert check.body == {
        "status": "ok",
        "databases": {
            "Payments": {
                "status": "ok",
                "role": "leader",
                "last_successful_poll": "2026-11-28T09:00:00+00:00",
                "max_age_s": 75.0,
                "age_s": 1.0,
            },
            "Platform": {  # another replica acts on it
                "status": "ok",
                "role": "standby",
                "last_successful_poll": "2026-11-28T09:00:00+00:00",
                "max_age_s": 75.0,
                "age_s": 1.0,
                "held_by": "host-2:41:ab12cd",
            },
        },
    }


def test_one_failing_database_is_degraded_and_none_healthy_is_unavailable() -> None:
    payments, platform = health(), health()
    payments.poll_succeeded(T0)
    platform.poll_failed(T0, RuntimeError("object_not_found"))
    both = DatabasesHealth(lambda: [("Payments", payments), ("Platform", platform)])
    degraded = both.check(T0 + timedelta(seconds=1))
    assert degraded.ok  # a restart would not bring the Platform database back
    assert degraded.body["status"] == "degraded"
    assert degraded.body["reason"] == (
        "Platform: no successful poll yet: polls failing since 2026-11-28T09:00:00+00:00: "
        "RuntimeError: object_not_found"
    )
    stuck = both.check(T0 + timedelta(seconds=120))  # no poll since: the loop is stuck
    assert not stuck.ok
    assert stuck.body["status"] == "unavailable"
    both.stop()
    assert both.check(T0).reason == (
        "Payments: the worker is stopping; Platform: the worker is stopping"
    )
