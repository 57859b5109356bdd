"""Benchmark (issue 14): the requests a declared incident and each kind of change cost."""

from __future__ import annotations

from collections import Counter

from common import Row, bench_harness, fast_options, progress

from tests.e2e.costs import CHANGES, declared_burst, mirrored_change, without_lookups

INCIDENTS = 20
QUICK_INCIDENTS = 5
# A minimal worker (issue 14): the page created with its first entry, the row read and
# written once; the parent posted and updated once. A change: its timeline entry; the
# reply and the parent's update.
DECLARED_GOAL = (3, 2)
CHANGE_GOAL = (1, 2)


def _by_path(counts: Counter[str], per: int = 1) -> str:
    return ", ".join(f"{path} {n / per:.3g}" for path, n in counts.most_common()) or "none"


def _row(
    name: str, notion: Counter[str], slack: Counter[str], per: int, goal: tuple[int, int]
) -> Row:
    notion_n, slack_n = sum(notion.values()) / per, sum(slack.values()) / per
    return Row(
        name,
        "Notion requests, Slack calls, by path (sandbox logs, limits off; polls and looking "
        "people up, once per person, not counted)",
        f"{notion_n:.3g} Notion ({_by_path(notion, per)}); {slack_n:.3g} Slack "
        f"({_by_path(slack, per)})",
        f"≤ {goal[0]} Notion, ≤ {goal[1]} Slack",
        notion_n <= goal[0] and slack_n <= goal[1],
    )


def run(*, quick: bool) -> list[Row]:
    count = QUICK_INCIDENTS if quick else INCIDENTS
    progress(f"costs: {count} incidents declared at once, then each kind of change")
    with bench_harness(fast_options()) as h:
        notion, slack, _ = declared_burst(h, count)
    name = f"Requests per declared incident ({count} at once)"
    rows = [_row(name, without_lookups(notion), without_lookups(slack), count, DECLARED_GOAL)]
    for kind in CHANGES:
        with bench_harness(fast_options()) as h:
            notion, slack = mirrored_change(h, kind)
        rows.append(_row(f"Requests per change: {kind}", notion, slack, 1, CHANGE_GOAL))
    return rows
