"""What an incident costs in requests, read from the sandbox's request logs: a burst of
declarations, and each kind of change people make (tests/e2e/test_request_counts.py asserts
them, bench/requests.py prints them). A poll's own requests are not counted."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.harness import Harness, people, rich, select, title

# A poll's own requests: the query of rows edited since the last one, and the schema read
# now and then.
POLL_PATHS = frozenset({"POST /v1/data_sources/{id}/query", "GET /v1/data_sources/{id}"})
# Looking people up is paid once per person (then cached), not per incident or change.
LOOKUP_PATHS = frozenset({"POST /api/users.lookupByEmail", "GET /v1/users/{id}"})
_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")

# Each kind of change people make, as the properties they set ("Ben": a person).
CHANGES: dict[str, dict[str, Any]] = {
    "a plain field (Impact)": {"Impact": rich("EU checkouts fail")},
    "the commander": {"Commander": "Chidi"},
    "the status (Identified)": {"Status": select("Identified")},
    "the severity (SEV3 → SEV2)": {"Severity": select("SEV2")},
    "a status update": {"Status update": rich("Rolled back deploy 4812")},
    "mitigated (Monitoring)": {"Status": select("Monitoring")},
    "resolved": {"Status": select("Resolved")},
}


class Requests:
    """The requests both emulators answered from a mark on, by `METHOD /path` (ids as {id})."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.notion_mark = len(h.box.notion_log.entries())
        self.slack_mark = len(h.box.slack_log.entries())

    def notion(self) -> Counter[str]:
        entries = self.h.box.notion_log.entries()[self.notion_mark :]
        return Counter({p: n for p, n in paths(entries).items() if p not in POLL_PATHS})

    def slack(self) -> Counter[str]:
        return paths(self.h.box.slack_log.entries()[self.slack_mark :])


def paths(entries: list[dict[str, Any]]) -> Counter[str]:
    return Counter(f"{e['method']} {_ID.sub('{id}', e['path'])}" for e in entries)


def without_lookups(counts: Counter[str]) -> Counter[str]:
    return Counter({p: n for p, n in counts.items() if p not in LOOKUP_PATHS})


def settle(h: Harness, *, minutes: float = 0) -> None:
    """Polls (`minutes` from now) until the outbox has nothing left to do (pages too)."""
    for _ in range(10):
        assert h.runtime.poll(datetime.now(UTC) + timedelta(minutes=minutes)) is not None
        counts = h.runtime.store.outbox_counts()
        if not counts.get("pending", 0) and not counts.get("sending", 0):
            return
    raise AssertionError(f"the outbox is not empty: {h.runtime.store.outbox_counts()}")


def declare_burst(h: Harness, count: int) -> list[str]:
    """`count` incidents created at once (in bulk: no HTTP, so none in the logs), with Ben
    or Chidi in command."""
    ben, chidi = h.person("Ben"), h.person("Chidi")
    rows = [
        {
            "Name": title(f"Incident {i}: checkout errors"),
            "Status": select("Investigating"),
            "Severity": select("SEV3"),
            "Commander": people((ben, chidi)[i % 2]),
        }
        for i in range(count)
    ]
    return h.box.notion.insert_pages(h.data_source_id, rows, as_user="Aiko")


def declared_burst(h: Harness, count: int) -> tuple[Counter[str], Counter[str], list[str]]:
    """The worker's Notion and Slack requests for `count` incidents declared at once, until
    all is done; and the incidents."""
    h.poll()  # not the first run over the database
    seen = Requests(h)
    pages = declare_burst(h, count)
    settle(h)
    return seen.notion(), seen.slack(), pages


def mirrored_change(h: Harness, kind: str) -> tuple[Counter[str], Counter[str]]:
    """The worker's Notion and Slack requests for one change of `kind` to an announced
    incident, ten minutes in, until all is done (Ben and Chidi looked up before)."""
    h.poll()
    (page,) = declare_burst(h, 1)
    settle(h)
    h.edit("Ben", page, Scribe=people(h.person("Chidi")))
    settle(h)
    values = {
        name: people(h.person(value)) if isinstance(value, str) else value
        for name, value in CHANGES[kind].items()
    }
    h.edit("Ben", page, **values)
    seen = Requests(h)  # after the edit: people's own requests are not the worker's
    settle(h, minutes=10)  # the update clock has run a while
    return seen.notion(), seen.slack()
