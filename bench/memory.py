"""Benchmark (issue 3): resident memory across 10,000 idle polls run back to back."""

from __future__ import annotations

import gc
import time
from datetime import timedelta

from common import Row, ShiftedClock, bench_harness, fast_options, progress, rss_mb, settle
from idle import HISTORY_AGE, insert_history, insert_live

POLLS = 10_000
QUICK_POLLS = 1_000
WARM_UP = 200
ROWS = 20
CHECKPOINTS = 10


def run(*, quick: bool) -> list[Row]:
    polls = QUICK_POLLS if quick else POLLS
    progress(f"memory: {polls:,} idle polls back to back ({ROWS} rows)")
    with bench_harness(fast_options()) as h:
        clock = ShiftedClock().install(h.box)
        clock.offset = -HISTORY_AGE
        insert_history(h, ROWS - 1)
        clock.offset = timedelta(0)
        insert_live(h)
        settle(h)
        # Warm up first: imports, caches, connection pools and the allocator's arenas.
        for _ in range(WARM_UP):
            h.poll()
        gc.collect()
        before = rss_mb()
        samples = [before]
        requests_before = h.runtime.notion.pacer.requests if h.runtime.notion.pacer else 0
        started = time.perf_counter()
        for i in range(1, polls + 1):
            h.poll()
            if i % (polls // CHECKPOINTS) == 0:
                # The sandbox keeps a log entry per request in this same process: drop it,
                # so that what is measured is the worker (and the emulators' state).
                h.box.notion_log.clear()
                h.box.slack_log.clear()
                samples.append(rss_mb())
        elapsed = time.perf_counter() - started
        gc.collect()
        after = rss_mb()
        requests = (h.runtime.notion.pacer.requests if h.runtime.notion.pacer else 0) - (
            requests_before
        )
    growth = after - before
    trail = " → ".join(f"{s:.0f}" for s in samples)
    return [
        Row(
            f"Memory over {polls:,} idle polls",
            "RSS MB before → after (difference)",
            f"{before:.1f} → {after:.1f} ({growth:+.1f})",
            "flat (a few MB of noise at most)",
            growth <= 3.0,
        ),
        Row(
            f"Memory over {polls:,} idle polls",
            f"RSS MB every {polls // CHECKPOINTS:,} polls; run time",
            f"{trail}; {elapsed:.0f} s ({elapsed / polls * 1000:.1f} ms/poll, "
            f"{requests / polls:g} Notion requests/poll)",
            "",
        ),
    ]
