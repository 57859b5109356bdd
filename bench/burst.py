"""Benchmark (issue 6): 100 incidents declared at once, against realistic rate limits."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from common import (
    Harness,
    Row,
    Sandbox,
    bench_harness,
    path_counts,
    people,
    progress,
    real_options,
    select,
    status_429,
    title,
)

INCIDENTS = 100
QUICK_INCIDENTS = 20
NOTION_RATE_PER_S = 3.0  # the sandbox's (and Notion's) average per token
SLACK_POSTS_PER_S = 1.0  # chat.postMessage per channel
GOAL_RATIO = 1.15
TIMEOUT_S = 1_200.0
WATCH_EVERY_S = 0.1
WHO = ("Aiko", "Ben", "Chidi", "Dana")


@dataclass
class BurstFigures:
    incidents: int
    seconds: float
    announced_s: float
    notion_requests: int
    slack_requests: int
    slack_posts: int
    notion_429: int
    slack_429: int
    notion_paths: Counter[str]
    slack_paths: Counter[str]
    in_flight_at_done: dict[str, int]
    settled_s: float
    settled_notion_requests: int
    timeline_pages: int


def written_back(box: Sandbox, data_source_id: str, pages: list[str]) -> int:
    """How many of `pages` have their *Slack thread* set, read from the emulator's state
    (no HTTP, so watching costs no rate-limit budget and adds no requests to the log)."""
    with box.notion.lock:
        source = box.notion.state.data_sources[data_source_id]
        prop = next(p for p in source.properties if p["name"] == "Slack thread")
        return sum(1 for page in pages if box.notion.state.pages[page].properties.get(prop["id"]))


def declare_all(h: Harness, count: int) -> list[str]:
    """`count` rows created at once by four people (in bulk: no HTTP, no rate limit)."""
    pages: list[str] = []
    share = -(-count // len(WHO))
    for n, who in enumerate(WHO):
        rows = [
            {
                "Name": title(f"Incident {i}: checkout errors in region {i % 7}"),
                "Status": select("Investigating"),
                "Severity": select(("SEV2", "SEV3")[i % 2]),
                "Commander": people(h.person(who)),
            }
            for i in range(n * share, min(count, (n + 1) * share))
        ]
        pages += h.box.notion.insert_pages(h.data_source_id, rows, as_user=who)
    return pages


def measure(count: int) -> BurstFigures:
    # Realistic limits; the harness leaves NOTION_REQUESTS_PER_SECOND at its default (3).
    with bench_harness(real_options(), POLL_INTERVAL="1s") as h, h.on_scheduler():
        time.sleep(5)  # idle polls; the sandbox's buckets refill after the set-up
        notion = h.runtime.notion
        notion_mark, slack_mark = len(h.box.notion_log.entries()), len(h.box.slack_log.entries())
        pacer_mark = notion.pacer.requests if notion.pacer else 0
        slack_requests_mark = h.runtime.slack.requests
        pages = declare_all(h, count)
        started = time.perf_counter()
        announced_s = 0.0
        deadline = started + TIMEOUT_S
        while True:
            parents = len(h.box.slack.channel_messages(h.channel))
            if parents >= count and not announced_s:
                announced_s = time.perf_counter() - started
            if parents >= count and written_back(h.box, h.data_source_id, pages) == count:
                break
            if time.perf_counter() > deadline:
                raise RuntimeError(f"not done after {TIMEOUT_S:.0f}s ({parents} announced)")
            time.sleep(WATCH_EVERY_S)
        seconds = time.perf_counter() - started
        notion_requests = (notion.pacer.requests if notion.pacer else 0) - pacer_mark
        slack_requests = h.runtime.slack.requests - slack_requests_mark
        notion_log = h.box.notion_log.entries()[notion_mark:]
        slack_log = h.box.slack_log.entries()[slack_mark:]
        slack_posts = path_counts(slack_log).get("POST /api/chat.postMessage", 0)
        in_flight = h.runtime.store.outbox_counts()
        # Then the page lane: every timeline page created, filled and linked (it yields to
        # announcements, so it mostly runs after them).
        while h.runtime.store.outbox_counts().get("pending", 0):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"outbox not empty after {TIMEOUT_S:.0f}s")
            time.sleep(WATCH_EVERY_S)
        settled_s = time.perf_counter() - started
        settled_notion_requests = (notion.pacer.requests if notion.pacer else 0) - pacer_mark
        timeline_pages = sum(1 for r in h.runtime.store.records("announced") if r.timeline_page_id)
        # 429s over the whole run, page lane included.
        notion_429 = status_429(h.box.notion_log.entries()[notion_mark:])
        slack_429 = status_429(h.box.slack_log.entries()[slack_mark:])
    slack_paths = path_counts(slack_log)
    return BurstFigures(
        incidents=count,
        seconds=seconds,
        announced_s=announced_s,
        notion_requests=notion_requests,
        slack_requests=slack_requests,
        slack_posts=slack_posts,
        notion_429=notion_429,
        slack_429=slack_429,
        notion_paths=path_counts(notion_log),
        slack_paths=slack_paths,
        in_flight_at_done=in_flight,
        settled_s=settled_s,
        settled_notion_requests=settled_notion_requests,
        timeline_pages=timeline_pages,
    )


def _per_incident(paths: Counter[str], count: int) -> str:
    return ", ".join(f"{path} {n / count:.2g}" for path, n in paths.most_common())


def run(*, quick: bool) -> list[Row]:
    count = QUICK_INCIDENTS if quick else INCIDENTS
    progress(f"burst: {count} incidents declared at once, realistic limits (a few minutes)")
    f = measure(count)
    notion_floor = f.notion_requests / NOTION_RATE_PER_S
    slack_floor = f.slack_posts / SLACK_POSTS_PER_S
    # The worker can go no faster than the slower of the two services allows: Notion's
    # 3 requests per second, or Slack's one new message per second in the channel.
    floor = max(notion_floor, slack_floor)
    ratio = f.seconds / floor
    binding = "Notion" if notion_floor >= slack_floor else "Slack"
    name = f"Burst: {count} incidents declared at once"
    return [
        Row(
            name,
            "seconds until all announced and *Slack thread* written back (all announced at); "
            "floors: Notion = the worker's requests ÷ 3/s, Slack = its posts ÷ 1/s; ratio to "
            "the larger",
            f"{f.seconds:.1f} s ({f.announced_s:.1f} s); Notion {notion_floor:.1f} s "
            f"({f.notion_requests} requests), Slack {slack_floor:.1f} s ({f.slack_posts} posts; "
            f"{f.slack_requests} calls); ratio {ratio:.2f} to the {binding} floor",
            f"ratio ≤ {GOAL_RATIO}",
            ratio <= GOAL_RATIO,
        ),
        Row(
            name,
            "then every timeline page created and linked, outbox empty: seconds; Notion floor "
            "for all the work (requests ÷ 3/s)",
            f"{f.settled_s:.1f} s ({f.timeline_pages} timeline pages); Notion floor "
            f"{f.settled_notion_requests / NOTION_RATE_PER_S:.1f} s "
            f"({f.settled_notion_requests} requests)",
            "",
        ),
        Row(
            name,
            "429 answers received until the outbox is empty (Notion / Slack)",
            f"{f.notion_429} / {f.slack_429}",
            "0",
            f.notion_429 + f.slack_429 == 0,
        ),
        Row(
            name,
            "Notion requests per incident, by path (sandbox log, until done)",
            _per_incident(f.notion_paths, count),
            "",
        ),
        Row(
            name,
            "Slack calls per incident, by method; outbox when done",
            _per_incident(f.slack_paths, count)
            + "; outbox "
            + ", ".join(f"{k} {v}" for k, v in sorted(f.in_flight_at_done.items())),
            "",
        ),
    ]
