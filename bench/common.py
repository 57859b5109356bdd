"""Benchmarks: what they share — the sandbox and harness set-up, clocks, timers, the table row."""

from __future__ import annotations

import math
import os
import platform
import re
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # `python bench/run.py` puts bench/ on the path, not the project: the harness lives there.
    sys.path.insert(0, str(ROOT))

# slack-sdk honours HTTPS_PROXY; loopback must never go through a proxy.
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ["no_proxy"] = "127.0.0.1,localhost"

# fast_options: no rate limits, for measuring the worker's own cost (the harness then lets
# the worker's pacers run free, as the e2e tests do).
from tests.e2e.harness import Harness, fast_options, people, rich, select, title  # noqa: E402
from tests.postgres import POSTGRES_ADMIN_URL, throwaway_database  # noqa: E402
from worker.sandbox import Sandbox, SandboxOptions  # noqa: E402
from worker.store import Store, engine_url  # noqa: E402

__all__ = [
    "Harness",
    "Row",
    "Sandbox",
    "ShiftedClock",
    "StoreTimer",
    "at_most",
    "bench_harness",
    "fast_options",
    "goal_row",
    "machine_facts",
    "markdown_table",
    "median",
    "path_counts",
    "people",
    "percentile",
    "postgres_database",
    "progress",
    "real_options",
    "rich",
    "rss_mb",
    "select",
    "settle",
    "status_429",
    "title",
]


@dataclass(frozen=True)
class Row:
    """One line of the results table: a figure next to the goal it is measured against, and
    the command that measures it (`run.py` fills that in)."""

    benchmark: str
    measure: str
    result: str
    goal: str = ""
    met: bool | None = None
    # When the goal is missed: by how much ("+1.4 s, 70 % over").
    missed_by: str = ""
    command: str = ""

    def cells(self) -> list[str]:
        verdict = {True: "yes", False: "**no**", None: ""}[self.met]
        if self.met is False and self.missed_by:
            verdict += f": {self.missed_by}"
        return [self.benchmark, self.measure, self.result, self.goal, verdict, self.command]


def at_most(value: float, limit: float, unit: str = "", digits: int = 2) -> tuple[bool, str]:
    """(met, by how much it is missed) for a goal `value ≤ limit`."""
    if value <= limit:
        return True, ""
    over = value - limit
    share = f", {over / limit * 100:.0f} % over" if limit > 0 else ""
    return False, f"+{over:.{digits}f}{f' {unit}' if unit else ''}{share}"


def goal_row(
    benchmark: str,
    measure: str,
    result: str,
    *,
    value: float,
    limit: float,
    goal: str,
    unit: str = "",
    digits: int = 2,
) -> Row:
    """A row whose goal is `value ≤ limit`, saying by how much a miss misses."""
    met, missed_by = at_most(value, limit, unit, digits)
    return Row(benchmark, measure, result, goal, met, missed_by)


def progress(message: str) -> None:
    """Progress goes to stderr so that stdout is only the table."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- sandboxes --------------------------------------------------------------------------


def real_options() -> SandboxOptions:
    """The sandbox's defaults: Notion 3 req/s per token (burst 10), Slack 1 post/s per
    channel (burst 5), Slack's method tiers."""
    return SandboxOptions()


@contextmanager
def bench_harness(options: SandboxOptions, **env: str) -> Iterator[Harness]:
    """A started sandbox, a fresh state directory and the harness's worker (closed after)."""
    with Sandbox(options) as box, tempfile.TemporaryDirectory(prefix="iw-bench-") as tmp:
        harness = Harness(box, Path(tmp), **env)
        try:
            yield harness
        finally:
            harness.close()


class ShiftedClock:
    """The Notion emulator's clock, `offset` away from the real time.

    Rows inserted while the offset is negative carry an old `last_edited_time`, as the rows
    of a database with some history do. The emulator takes its clock at construction and
    `Sandbox` does not pass one, so `install` swaps it on the running emulator (the state
    reads `state.clock()` for every timestamp, under the emulator's lock).
    """

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def install(self, box: Sandbox) -> ShiftedClock:
        with box.notion.lock:
            box.notion.clock = self
            box.notion.state.clock = self
        return self


def settle(h: Harness, *, max_polls: int = 20) -> int:
    """Poll until a poll changes nothing and nothing is left to do; returns the polls run."""
    for count in range(1, max_polls + 1):
        report = h.poll()
        if report.changed == 0 and not h.runtime.store.due_actions(h.runtime.clock()):
            return count
    raise RuntimeError(f"the worker did not settle within {max_polls} polls")


# --- measuring --------------------------------------------------------------------------


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p90 of 20 samples is the 18th smallest)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(round(fraction * len(ordered), 9))))
    return ordered[rank - 1]


def rss_mb() -> float:
    """Resident memory of this process (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


def path_counts(entries: list[dict[str, Any]]) -> Counter[str]:
    """Requests per `METHOD /path` with ids replaced by `{id}`."""
    return Counter(f"{e['method']} {_ID.sub('{id}', e['path'])}" for e in entries)


def status_429(entries: list[dict[str, Any]]) -> int:
    return sum(1 for e in entries if e.get("status") == 429)


class StoreTimer:
    """Wraps the public methods of one `Store` instance with timers (outermost call only,
    so a store method calling another is counted once) and counts SQL statements."""

    _SKIP = frozenset({"open", "close", "migrate", "transaction"})

    def __init__(self, store: Store) -> None:
        self.store = store
        self.seconds = 0.0
        self.calls: Counter[str] = Counter()
        self.statements = 0
        self._depth = 0
        for name in dir(Store):
            if name.startswith("_") or name in self._SKIP:
                continue
            if callable(getattr(Store, name)):
                setattr(store, name, self._timed(name, getattr(store, name)))
        event.listen(store.engine, "before_cursor_execute", self._statement)

    def _statement(self, *_args: object) -> None:
        self.statements += 1

    def _timed(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return method(*args, **kwargs)
            self._depth += 1
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls[name] += 1
                self._depth -= 1

        return timed

    def reset(self) -> None:
        self.seconds = 0.0
        self.calls.clear()
        self.statements = 0


@contextmanager
def postgres_database() -> Iterator[str]:
    """A throwaway PostgreSQL database (the tests' own helper)."""
    with throwaway_database("iw_bench") as url:
        yield url


def postgres_version() -> str:
    try:
        engine = sa.create_engine(engine_url(POSTGRES_ADMIN_URL))
        with engine.connect() as conn:
            version = str(conn.execute(sa.text("SHOW server_version")).scalar())
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - a machine fact, not a failure
        return f"unreachable ({type(exc).__name__})"
    return version.split(maxsplit=1)[0]


def machine_facts() -> list[str]:
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return [
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.release()} {platform.machine()}",
        f"{os.cpu_count()} CPUs{f' ({cpu})' if cpu else ''}",
        f"SQLite {sqlite3.sqlite_version}, PostgreSQL {postgres_version()} on loopback",
    ]


def markdown_table(rows: list[Row]) -> str:
    header = ["Benchmark", "Measure", "Result", "Goal", "Met", "Command"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)
