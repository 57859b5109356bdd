"""Runtimes: every Incidents database of one worker process, a `Runtime` each.

They share what `Shared` holds — one state store, one Notion and one Slack gateway (so all
the databases together keep to one pace per app), the wording, the metrics registry — and
one holder id, with which replicas share the databases' leases (worker/replicas.py). Each
database's loop runs in a thread of its own. With one database, this is that database's
Runtime and nothing more, exactly as before several could be followed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from worker.config import IncidentDatabase, Settings
from worker.health import DatabasesHealth, HealthSource
from worker.lease import holder_id
from worker.metrics import Metrics
from worker.replicas import Replicas
from worker.runtime import Runtime, Shared
from worker.scheduler import Loop, Loops, utc_now

log = logging.getLogger("worker.runtimes")


def database_names(databases: Sequence[IncidentDatabase], titles: Sequence[str]) -> list[str]:
    """What each database is called in logs, /healthz and /metrics: its title in Notion, or
    its id when it has none; a title two databases share is followed by the id's start."""
    shared = Counter(title for title in titles if title)
    return [
        (f"{title} ({database.id[:8]})" if shared[title] > 1 else title) if title else database.id
        for database, title in zip(databases, titles, strict=True)
    ]


@dataclass
class Runtimes:
    runtimes: list[Runtime]
    shared: Shared
    # How this replica shares the databases with others (None: one database).
    replicas: Replicas | None
    health: HealthSource

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
        greedy: bool = False,
    ) -> Runtimes:
        """`greedy`: take every database that is free (`once`), not a replica's share."""
        shared = Shared.build(settings)
        if not settings.several_databases:
            runtime = Runtime.alone(shared, should_stop=should_stop, sleep=sleep, clock=clock)
            return cls([runtime], shared, None, runtime.health)
        holder = holder_id()
        runtimes = [
            Runtime.of_database(
                shared,
                database,
                first=index == 0,
                holder=holder,
                should_stop=should_stop,
                sleep=sleep,
                clock=clock,
            )
            for index, database in enumerate(settings.incident_databases)
        ]
        replicas = Replicas(
            shared.store, [r.lease for r in runtimes], ttl_s=settings.lease_s, greedy=greedy
        )
        for runtime in runtimes:
            runtime.replicas = replicas
        shared.metrics.watch_states(lambda: [(r.name, r.store) for r in runtimes], settings)
        health = DatabasesHealth(lambda: [(r.name or "", r.health) for r in runtimes])
        return cls(runtimes, shared, replicas, health)

    @property
    def metrics(self) -> Metrics:
        return self.shared.metrics

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.runtimes[0].clock

    def start(self) -> None:
        """Each database's start (who the worker is, its data source, its channel joined),
        then, with several, each one named by its title."""
        for runtime in self.runtimes:
            runtime.start()
        if len(self.runtimes) == 1:
            return
        databases = [r.settings.incident_databases[0] for r in self.runtimes]
        titles = [self.shared.notion.database_title(d.id) for d in databases]
        for runtime, name in zip(self.runtimes, database_names(databases, titles), strict=True):
            runtime.named(name)
        log.info(
            "following %d Incidents databases: %s",
            len(self.runtimes),
            "; ".join(f"{r.name} → {r.settings.slack_channel_id}" for r in self.runtimes),
        )

    def loop(self) -> Loop | Loops:
        """Each database's loop, in a thread of its own."""
        if len(self.runtimes) == 1:
            return self.runtimes[0].loop()
        return Loops([runtime.loop() for runtime in self.runtimes])

    def close(self) -> None:
        """Every lease released, this replica's heartbeat gone (the others take over at
        once), then what the databases share."""
        for runtime in self.runtimes:
            runtime.close()
        if len(self.runtimes) == 1:
            return  # that runtime owned what it shared
        if self.replicas is not None:
            self.replicas.leave()
        self.shared.close()
