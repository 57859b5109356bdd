"""Schema watch: `run` re-reads the Incidents schema now and then and says, once, when it
no longer fits the settings (in the log and the channel), and once more when it fits again.

People rename, delete and retype properties and options while the worker runs. A row that
cannot be read whole is only a symptom, seen in every open incident at once; the cause is
the database, so it is said once in the channel, with how to fix it — not in every thread.
What was last said is kept in the store (`worker_meta`), so a restart says nothing new.
The comparison is `check`'s own (`schema_results`): one idea of "fits", in one place.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from worker.actions import Action, PostNotice
from worker.check import schema_results
from worker.config import Settings
from worker.errors import ServiceError
from worker.notion import DataSourceSchema, NotionGateway
from worker.plan import channel_notice
from worker.store import Store

log = logging.getLogger("worker.schema_watch")

SAID_KEY = "schema_notice"


def schema_problems(schema: DataSourceSchema, settings: Settings) -> tuple[str, ...]:
    """What does not fit, one line each (failures first, then warnings): empty when it fits."""
    results = schema_results(schema, settings)
    failures = [r for r in results if not r.ok]
    warnings = [r for r in results if r.ok and r.warning]
    return tuple(f"{r.name}: {r.detail}" for r in (*failures, *warnings))


@dataclass(frozen=True)
class Said:
    """What the channel was last told: the `episode` counts changes; `digest` is empty when
    it was told that the schema fits (or was never told anything)."""

    episode: int = 0
    digest: str = ""

    @classmethod
    def from_meta(cls, text: str | None) -> Said:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            return cls(int(data["episode"]), str(data["digest"]))
        except (ValueError, KeyError, TypeError):
            return cls()

    def to_meta(self) -> str:
        return json.dumps({"episode": self.episode, "digest": self.digest})


def digest_of(problems: tuple[str, ...]) -> str:
    return hashlib.sha256("\n".join(problems).encode()).hexdigest()[:12] if problems else ""


def next_notice(
    said: Said, problems: tuple[str, ...], database: str = ""
) -> tuple[Said, Action | None]:
    """What to say now, given what was said last (pure): nothing while it stays the same.
    `database`: its name, when the worker follows several (the notice, and so its key, say
    which)."""
    digest = digest_of(problems)
    if digest == said.digest:
        return said, None
    now_said = Said(said.episode + 1, digest)
    if problems:
        payload = PostNotice(type="schema_broken", problems=problems, database=database)
    else:
        payload = PostNotice(type="schema_fits", database=database)
    return now_said, channel_notice("schema", now_said.episode, payload)


class SchemaWatch:
    """Re-reads the schema every `interval_s` (one request), and at once after a poll met
    a row problem not seen at the last look; the leader calls it after reading rows."""

    def __init__(
        self, settings: Settings, notion: NotionGateway, store: Store, *, interval_s: float
    ) -> None:
        self.settings = settings
        self.notion = notion
        self.store = store
        self.interval_s = interval_s
        self._next: datetime | None = None  # the first poll looks
        self._row_problems: frozenset[str] = frozenset()
        # The database's name when the worker follows several (set once it is known).
        self.database_name = ""

    def after_rows(self, now: datetime, row_problems: Collection[str]) -> None:
        """Look at the schema if it is time, or if the rows just read had a new problem."""
        fresh = not set(row_problems) <= self._row_problems
        if self._next is not None and now < self._next and not fresh:
            return
        try:
            schema = self.notion.schema()
        except ServiceError as exc:
            # Tried again at the next poll; the poll itself reports an outage.
            log.info("could not re-read the Incidents database's schema: %s", exc)
            return
        self._row_problems = frozenset(row_problems)
        self._next = now + timedelta(seconds=self.interval_s)
        self.say(schema_problems(schema, self.settings), now)

    def say(self, problems: tuple[str, ...], now: datetime) -> None:
        said, action = next_notice(
            Said.from_meta(self.store.get_meta(SAID_KEY)), problems, self.database_name
        )
        if action is None:
            return
        # The action first: if the worker stops in between, the next look plans the same
        # key again (the outbox keeps one), and only then moves on.
        self.store.add_actions([action], now)
        self.store.set_meta(SAID_KEY, said.to_meta())
        database = f"the Incidents database {self.database_name}".rstrip()
        if problems:
            log.warning(
                "%s no longer fits the settings (said in the channel too): %s",
                database,
                " | ".join(problems),
            )
        else:
            log.info("%s fits the settings again (said in the channel too)", database)
