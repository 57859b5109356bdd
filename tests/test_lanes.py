"""Delivery lanes: the threads themselves (they outlive a failure, a stop is bounded)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import OperationalError

from worker.lanes import Lanes
from worker.reports import DeliveryReport


class _Effects:
    """Just enough of Effects for Lanes: counts the rounds each lane runs."""

    def __init__(self) -> None:
        self.rounds: dict[str, int] = {"slack": 0, "notion": 0}

    def run_ready(self, lane: str, *_args: Any, **_kwargs: Any) -> DeliveryReport:
        self.rounds[lane] += 1
        return DeliveryReport()


def test_a_lane_survives_the_lease_check_failing_once() -> None:
    """`may_act` is Lease.keep, which every ttl/3 renews the lease in the state store: a
    moment of store trouble (SQLite busy past its timeout, PostgreSQL failing over) raises
    there. The lane goes on, as it does for a failure inside a round; a lane thread that
    died would leave polls recording and /healthz green while nothing is delivered."""
    effects = _Effects()
    calls = [0]

    def may_act() -> bool:
        calls[0] += 1
        if calls[0] == 1 and threading.current_thread().name == "lane-slack":
            raise OperationalError("UPDATE leader_lease", {}, Exception("database is locked"))
        return True

    lanes = Lanes(
        effects,  # type: ignore[arg-type]
        clock=lambda: datetime.now(UTC),
        may_act=may_act,
        idle_s=0.02,
    )
    seen: list[BaseException] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: seen.append(args.exc_value)  # type: ignore[assignment]
    try:
        lanes.start()
        time.sleep(0.5)
        alive = {t.name: t.is_alive() for t in lanes._threads}
        lanes.stop(1.0)
    finally:
        threading.excepthook = previous
    assert alive == {"lane-slack": True, "lane-notion": True}, f"a lane died: {seen}"
    assert effects.rounds["slack"] > 0
