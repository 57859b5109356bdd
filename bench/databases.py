"""Benchmark (issue 14): three Incidents databases on one integration and one Slack app — three
worker processes with one database each, against one worker with all three — Notion requests,
Slack calls, 429s and edit → reply latency side by side.

Whether the worker takes several databases is asked of the worker itself: `incident-worker
check --json` with NOTION_INCIDENTS_DATABASE_ID listing three and INCIDENT_ROUTES giving each
its channel must pass and name every one of them. Until it does, the one-worker side is a
"skipped" row, never a figure."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import partial

from common import (
    Row,
    goal_row,
    median,
    people,
    percentile,
    progress,
    real_options,
    select,
    title,
)
from process import Scene, WorkerProcess, outbox_pending, sample_edit, scene, settled
from traffic import Request, count_429, kinds, worker_requests

from tests.waiting import wait_until

DATABASES = ("Incidents A", "Incidents B", "Incidents C")
INCIDENTS_PER_DATABASE, QUICK_INCIDENTS_PER_DATABASE = 8, 3
# Three databases polled by one integration: at 3 s, polling takes 1 of Notion's 3 requests/s.
POLL_INTERVAL_S = 3.0
GOAL_S = POLL_INTERVAL_S + 1.0
TIMEOUT_S = 900.0
REPLY_TIMEOUT_S = 300.0
QUIET_S = 5.0
SKIPPED = "skipped: this worker takes one database (NOTION_INCIDENTS_DATABASE_ID lists one)"
STATUSES = ("Identified", "Monitoring", "Investigating")


@dataclass(frozen=True)
class Database:
    database_id: str
    data_source_id: str
    channel: str


@dataclass
class Figures:
    seconds: float
    requests: list[Request]
    latency: list[float] = field(default_factory=list)


def databases(s: Scene) -> list[Database]:
    """The scene's own database and channel, and two more of each."""
    found = [Database(s.database_id, s.data_source_id, s.channel)]
    for n, name in enumerate(DATABASES[1:], start=1):
        database_id, data_source_id = s.add_database(name)
        found.append(Database(database_id, data_source_id, s.add_channel(f"incidents-{n}")))
    return found


def one_worker_envs(s: Scene, dbs: list[Database]) -> list[dict[str, str]]:
    """The one worker's configuration: the routes alone, and with SLACK_CHANNEL_ID too (in
    case the worker still asks for it)."""
    routes = s.worker_env(
        fast=False,
        POLL_INTERVAL=f"{POLL_INTERVAL_S:g}s",
        NOTION_INCIDENTS_DATABASE_ID=",".join(d.database_id for d in dbs),
        INCIDENT_ROUTES=",".join(f"{d.database_id}={d.channel}" for d in dbs),
    )
    alone = {k: v for k, v in routes.items() if k != "SLACK_CHANNEL_ID"}
    return [alone, {**routes, "SLACK_CHANNEL_ID": dbs[0].channel}]


def several_databases(s: Scene, env: dict[str, str], dbs: list[Database]) -> str:
    """'' when `incident-worker check` accepts the three databases and names each of them;
    else why the one-worker side is skipped."""
    workdir = s.workdir / "check"
    workdir.mkdir(parents=True, exist_ok=True)
    answer = subprocess.run(
        [sys.executable, "-m", "worker", "check", "--json"],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        results = json.loads(answer.stdout)
    except ValueError:
        said = (answer.stdout or answer.stderr).strip().splitlines()
        return f"skipped: `incident-worker check` answered {said[-1] if said else 'nothing'!r}"
    failed = [r for r in results if not r.get("ok")]
    if failed:
        first = "; ".join(f"{r['name']}: {r['detail']}" for r in failed[:2])
        return f"skipped: `incident-worker check` refuses three databases ({first})"
    text = json.dumps(results)
    named = [d for d in dbs if d.database_id in text or d.database_id.replace("-", "") in text]
    if len(named) < len(dbs):
        return f"{SKIPPED}: `check` names {len(named)} of the {len(dbs)} databases"
    return ""


def declare(s: Scene, db: Database, name: str) -> str:
    return s.declare(
        "Aiko",
        db.data_source_id,
        Name=title(name),
        Severity=select("SEV2"),
        Status=select("Investigating"),
        Commander=people(s.person("Ben")),
    )


def burst(s: Scene, dbs: list[Database], count: int) -> dict[Database, list[str]]:
    """`count` rows created at once in each database (in bulk: no HTTP, no rate limit)."""
    rows = [
        {
            "Name": title(f"Incident {i}: checkout errors"),
            "Status": select("Investigating"),
            "Severity": select(("SEV2", "SEV3")[i % 2]),
            "Commander": people(s.person("Ben")),
        }
        for i in range(count)
    ]
    return {db: s.insert(rows, as_user="Aiko", data_source_id=db.data_source_id) for db in dbs}


def complete(s: Scene, pages: dict[Database, list[str]]) -> bool:
    for db, mine in pages.items():
        if not set(mine) <= set(s.parents(db.channel)):
            return False
        for prop in ("Slack thread", "Timeline"):
            if s.urls_written(mine, prop, db.data_source_id) < len(mine):
                return False
    return True


def play(s: Scene, dbs: list[Database], workers: list[WorkerProcess], count: int) -> Figures:
    """Each database's target announced, then a burst in every database while a person edits
    the targets in turn; until everything is done."""
    for worker in workers:
        s.wait_polling(worker)
    targets = [(db, declare(s, db, f"Payments timing out ({n})")) for n, db in enumerate(dbs)]
    threads = [s.thread_ts(page, db.channel, timeout_s=120) for db, page in targets]
    wait_until("the workers to settle", lambda: all(settled(s, w) for w in workers), timeout_s=120)
    mark = s.traffic.mark()
    pages = burst(s, dbs, count)
    started = time.monotonic()
    rng = random.Random(6)
    latency: list[float] = []
    moves = 0

    def done() -> bool:
        return complete(s, pages) and all(outbox_pending(w) == 0 for w in workers)

    # Edits go on while the burst is worked through (each edit's own reply, parent update
    # and timeline entry are then still to come: waiting for an empty outbox here would edit
    # for ever); then everything, the edits' work included, is waited for.
    while not complete(s, pages) and time.monotonic() < started + TIMEOUT_S:
        for worker in workers:
            worker.check_alive()
        time.sleep(rng.uniform(0, POLL_INTERVAL_S))
        (db, page), ts = targets[moves % len(targets)], threads[moves % len(targets)]
        status = STATUSES[(moves // len(targets)) % len(STATUSES)]
        latency.append(
            sample_edit(
                s,
                page,
                ts,
                partial(s.edit, "Ben", page, Status=select(status)),
                channel=db.channel,
                timeout_s=REPLY_TIMEOUT_S,
            )
        )
        moves += 1
    wait_until(
        "the burst to be done",
        lambda: done() and all(settled(s, w, QUIET_S) for w in workers),
        timeout_s=TIMEOUT_S,
        every_s=0.5,
    )
    done_at = s.traffic.last_worker_request_at(mark) or time.monotonic()
    requests = [r for r in s.traffic.since(mark) if r.at <= done_at]
    return Figures(done_at - started, requests, latency)


def three_workers(count: int) -> Figures:
    with scene(real_options(), "databases-three") as s:
        dbs = databases(s)
        workers = []
        for n, db in enumerate(dbs):
            env = s.worker_env(
                fast=False,
                POLL_INTERVAL=f"{POLL_INTERVAL_S:g}s",
                NOTION_INCIDENTS_DATABASE_ID=db.database_id,
                SLACK_CHANNEL_ID=db.channel,
            )
            workers.append(s.start_worker(env, name=f"worker-{n + 1}"))
        return play(s, dbs, workers, count)


def one_worker(count: int) -> Figures | str:
    with scene(real_options(), "databases-one") as s:
        dbs = databases(s)
        skipped = ""
        for env in one_worker_envs(s, dbs):
            skipped = several_databases(s, env, dbs)
            if not skipped:
                return play(s, dbs, [s.start_worker(env)], count)
        return skipped


def rows_for(name: str, f: Figures, incidents: int) -> list[Row]:
    notion = worker_requests(f.requests, "notion")
    slack = worker_requests(f.requests, "slack")
    polls = sum(1 for r in notion if r.is_poll)
    n429 = count_429(f.requests, "notion"), count_429(f.requests, "slack")
    slack_kinds = kinds(slack)
    rows = [
        Row(
            name,
            f"until done ({incidents} declarations, {len(f.latency)} edits): seconds; the "
            "workers' Notion requests (and polls), Slack calls",
            f"{f.seconds:.0f} s; Notion {len(notion) - polls} (+ {polls} polls); "
            f"Slack {sum(slack_kinds.values())}",
        ),
        goal_row(
            name,
            "429 answers until done (Notion / Slack)",
            f"{n429[0]} / {n429[1]}",
            value=sum(n429),
            limit=0,
            goal="0",
            digits=0,
        ),
    ]
    if f.latency:
        p95 = percentile(f.latency, 0.95)
        rows.append(
            goal_row(
                name,
                f"edit → Slack reply during the bursts, seconds, p50 / p95 / max of "
                f"{len(f.latency)} edits",
                f"{median(f.latency):.2f} / {p95:.2f} / {max(f.latency):.2f}",
                value=p95,
                limit=GOAL_S,
                goal=f"p95 ≤ {GOAL_S:g} s",
                unit="s",
            )
        )
    return rows


def run(*, quick: bool) -> list[Row]:
    count = QUICK_INCIDENTS_PER_DATABASE if quick else INCIDENTS_PER_DATABASE
    incidents = count * len(DATABASES)
    label = (
        f"Three databases, {count} declarations at once in each, one integration, "
        f"POLL_INTERVAL={POLL_INTERVAL_S:g}s"
    )
    progress(f"databases: one worker with {len(DATABASES)} databases, if it takes them")
    one = one_worker(count)
    progress(f"databases: {len(DATABASES)} workers with one database each")
    three = three_workers(count)
    rows = rows_for(f"{label}: three worker processes, one database each", three, incidents)
    name = f"{label}: one worker with the three"
    if isinstance(one, str):
        rows.append(Row(name, "requests, 429s, edit → Slack reply", one))
    else:
        rows += rows_for(name, one, incidents)
    return rows
