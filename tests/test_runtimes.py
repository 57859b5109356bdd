"""Runtimes: one Runtime per Incidents database, named by its title; with one database,
exactly that database's Runtime."""

from __future__ import annotations

import pytest

from tests.e2e.harness import Harness
from worker.config import IncidentDatabase
from worker.health import Health
from worker.runtimes import Runtimes, database_names
from worker.scheduler import Loop

A = IncidentDatabase("aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "C0A")
B = IncidentDatabase("bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", "C0B")
C = IncidentDatabase("cccccccc-cccc-4ccc-8ccc-cccccccccccc", "C0C")


@pytest.mark.parametrize(
    ("titles", "names"),
    [
        (("Payments", "Platform", "Security"), ["Payments", "Platform", "Security"]),
        (("Payments", "", "Security"), ["Payments", B.id, "Security"]),  # untitled: its id
        (
            ("Incidents", "Incidents", "Security"),  # `setup`'s default title, twice
            ["Incidents (aaaaaaaa)", "Incidents (bbbbbbbb)", "Security"],
        ),
    ],
    ids=["titles", "untitled", "twice"],
)
def test_each_database_is_named_by_its_title(titles: tuple[str, ...], names: list[str]) -> None:
    assert database_names([A, B, C], titles) == names


def test_with_one_database_it_is_that_databases_runtime(h: Harness) -> None:
    runtimes = Runtimes.build(h.settings())
    try:
        runtimes.start()
        (runtime,) = runtimes.runtimes
        assert runtime.name is None  # nothing in logs, /healthz or /metrics says more
        assert runtimes.replicas is None  # one lease, as ever
        assert runtime.lease.name == "worker"
        assert isinstance(runtimes.health, Health)
        loop = runtimes.loop()
        assert isinstance(loop, Loop)
        assert [job.name for job in loop.jobs] == ["poll", "nag"]
        assert not runtimes.metrics.per_database
    finally:
        runtimes.close()
