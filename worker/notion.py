"""Gateway to Notion: paced, retried calls through notion-client; rows leave here parsed.

When Notion asks for a wait longer than a moment (HTTP 429 or 529 with `Retry-After`, up to
a minute for a connection's budget and longer for the workspace's), the gateway does not
sleep through it: it holds every Notion call until then and answers at once with a
`ServiceError` that says how long is left, so the poll skips its read, Notion-bound actions
keep their place in the outbox, and Slack work goes on meanwhile.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import Enum
from functools import partial
from typing import Any

import httpx
import notion_client
from notion_client.errors import APIResponseError, HTTPResponseError, RequestTimeoutError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from worker.config import NOTION_VERSION, Settings
from worker.errors import RowError, ServiceError
from worker.pacing import Hold, Pacer, may_send
from worker.pages.blocks import Block
from worker.pages.limits import MAX_ARRAY_ITEMS, MAX_TEXT_UTF16, split_utf16
from worker.pages.parse import ChildBlock, NotionPage, parse_child_block, parse_page
from worker.properties import BY_KEY
from worker.reports import NotionWait
from worker.snapshot import Incident, Person, parse_incident

log = logging.getLogger("worker.notion")

# Answers that say Notion carried nothing out: even a create or an append may be sent again.
# (409 `conflict_error`: the write collided with another one to the page and was not saved.)
_NOT_CARRIED_OUT = {"rate_limited", "conflict_error"}
# Failures after which a repeat is harmless for reads and idempotent writes.
_TRANSIENT_CODES = {
    "rate_limited",
    "internal_server_error",
    "service_unavailable",
    "gateway_timeout",
    "service_overload",
    "conflict_error",
}
# Waits Notion asks for that are sat out inside the call; longer ones hold every Notion call
# instead (Notion's own MCP server "retries a rate limit once when the wait is 2 seconds or
# less", https://developers.notion.com/guides/mcp/rate-limits).
INLINE_WAIT_S = 2.0
# `additional_data.rate_limit_reason` (https://developers.notion.com/reference/request-limits),
# in words; "Other rate_limit_reason values can appear. Handle them like any other 429".
_WAIT_REASONS = {
    "public_api_request_rate_limit": "this integration's request budget for the minute is spent",
    "public_api_space_request_rate_limit": (
        "the request limit shared by the workspace's integrations is reached"
    ),
}


class ServerClock:
    """Notion's own time, from the `Date` header of its answers (our clock may be off).

    `latest` is the thread's own: a poll reads the time of its own query, never that of an
    answer the Notion delivery lane, or another database's loop, got meanwhile (its cursor
    would skip edits)."""

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def latest(self) -> datetime | None:
        latest: datetime | None = getattr(self._local, "latest", None)
        return latest

    @latest.setter
    def latest(self, value: datetime | None) -> None:
        self._local.latest = value

    def observe(self, response: httpx.Response) -> None:
        value = response.headers.get("date")
        if not value:
            return
        try:
            self.latest = parsedate_to_datetime(value).astimezone(UTC)
        except (TypeError, ValueError):
            return


def _http_status(exc: BaseException) -> int | None:
    return exc.status if isinstance(exc, HTTPResponseError) else None


def _code(exc: BaseException) -> str:
    if isinstance(exc, HTTPResponseError):
        # notion-client's codes are a str Enum: str() would give "APIErrorCode.RateLimited".
        code = exc.code
        return str(code.value) if isinstance(code, Enum) else str(code)
    if isinstance(exc, RequestTimeoutError):
        return "timeout"
    if isinstance(exc, httpx.TransportError):
        return "connection"
    return type(exc).__name__


def _request_id(exc: BaseException) -> str:
    rid = getattr(exc, "request_id", None)
    if rid:
        return str(rid)
    headers = getattr(exc, "headers", None)
    if headers is not None:
        return str(headers.get("x-notion-request-id", ""))
    return ""


def _is_transient(exc: BaseException) -> bool:
    """Worth trying again: rate limits, 5xx (including 502 with no Notion body), timeouts."""
    if isinstance(exc, RequestTimeoutError | httpx.TransportError):
        return True
    if isinstance(exc, APIResponseError):
        return _code(exc) in _TRANSIENT_CODES
    status = _http_status(exc)
    return status is not None and (status == 429 or status >= 500)


def _is_conflict(exc: BaseException) -> bool:
    """A 409: nothing was saved, so any request may be sent again at once (notion-client
    itself never retries it)."""
    return isinstance(exc, APIResponseError) and _code(exc) == "conflict_error"


def _not_carried_out(exc: BaseException) -> bool:
    """A write may be sent again: Notion refused it unread (a rate limit) or saved nothing
    (a conflict)."""
    return _http_status(exc) == 429 or _is_conflict(exc)


def _asks_to_wait(exc: BaseException) -> bool:
    """Notion asked us to wait (429 or 529 with `Retry-After`), as its request-limits page
    says clients must honour."""
    return _http_status(exc) in (429, 529) and _retry_after_s(exc) is not None


def _wait_reason(exc: BaseException) -> str:
    if _http_status(exc) == 529:
        return "Notion is overloaded (service_overload)"
    data = getattr(exc, "additional_data", None) or {}
    reason = str(data.get("rate_limit_reason") or "") if isinstance(data, dict) else ""
    return _WAIT_REASONS.get(reason, f"rate limited ({reason})" if reason else "rate limited")


class _LongWait(stop_base):
    """Stop retrying inside the call when Notion asks for a longer wait than `limit_s`."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        after = _retry_after_s(exc) if exc is not None else None
        return after is not None and after > self.limit_s


def _retry_after_s(exc: BaseException) -> float | None:
    headers = getattr(exc, "headers", None)
    raw = headers.get("retry-after") if headers is not None else None
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None


_backoff = wait_exponential_jitter(multiplier=0.5, max=8, jitter=0.5)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    after = _retry_after_s(exc) if exc is not None else None
    return min(after, 30.0) if after is not None else float(_backoff(state))


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    if exc is not None:
        log.warning(
            "notion: retrying after %s (request id %s), attempt %d",
            _code(exc),
            _request_id(exc) or "-",
            state.attempt_number,
        )


_HINTS = {
    "object_not_found": " (is it shared with the integration? In Notion: ••• → Connections)",
    "unauthorized": " (NOTION_TOKEN is not a valid integration secret: copy it again from "
    "the integration's settings)",
    "restricted_resource": " (the integration lacks a capability: give it Read, Update and "
    "Insert content in its settings)",
}


def as_service_error(operation: str, exc: BaseException, *, write: bool) -> ServiceError:
    """Translate a notion-client or httpx failure into the worker's error type."""
    code = _code(exc)
    message = str(exc) or code
    message += _HINTS.get(code, "")
    transient = _is_transient(exc)
    # Rate limits and conflicts mean the request was not carried out; other transient
    # failures of a write may have been (a timeout after sending): the caller must reconcile.
    unknown = write and transient and code not in _NOT_CARRIED_OUT
    return ServiceError(
        "notion",
        operation,
        message,
        code=code,
        status=_http_status(exc),
        request_id=_request_id(exc),
        retryable=transient,
        retry_after_s=_retry_after_s(exc),
        outcome_unknown=unknown,
    )


@dataclass(frozen=True)
class DataSourceSchema:
    id: str
    title: str
    # property name → (type, option names for select/status)
    properties: dict[str, tuple[str, tuple[str, ...]]]


# One Notion answer: its HTTP status (None: none came) and Notion's error code (None: ok).
OnResponse = Callable[[int | None, str | None], None]


def response_hook(on_response: OnResponse) -> Callable[[httpx.Response], None]:
    """An httpx response hook reporting every answer to `on_response`, including the ones
    the SDK retries itself."""

    def hook(response: httpx.Response) -> None:
        code = None
        if response.status_code >= 400:
            response.read()  # error bodies are small; httpx caches them for the SDK
            code = _error_code(response.content)
        on_response(response.status_code, code)

    return hook


def _error_code(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None  # a proxy's HTML page: the status says enough
    code = data.get("code") if isinstance(data, dict) else None
    return str(code) if code else None


def build_client(
    settings: Settings,
    pacer: Pacer,
    token: str | None = None,
    on_response: Callable[[httpx.Response], None] | None = None,
    server_clock: ServerClock | None = None,
) -> notion_client.Client:
    """The real notion-client, pointed at `NOTION_BASE_URL`, paced by an httpx hook."""
    hooks: dict[str, list[Callable[[Any], None]]] = {
        "request": [pacer.wait, may_send],  # paced, and only while the replica may act
        "response": [],
    }
    if on_response is not None:
        hooks["response"].append(on_response)
    if server_clock is not None:
        hooks["response"].append(server_clock.observe)
    http = httpx.Client(event_hooks=hooks)
    return notion_client.Client(
        client=http,
        auth=token if token is not None else settings.notion_token.reveal(),
        base_url=settings.notion_base_url,
        notion_version=NOTION_VERSION,
        timeout_ms=int(settings.notion_timeout_s * 1000),
        logger=logging.getLogger("worker.notion_sdk"),
        log_level=logging.WARNING,
        # Off: the SDK sleeps inside the call, for at most its max_retry_delay, then asks
        # again — before a minute-long Retry-After is over. The gateway retries instead,
        # and holds every call while Notion asked to wait (`NotionGateway.call`).
        retry=False,
    )


NOTION_WINDOW_S = 61.0
# How long the workspace's people (by email) are taken as read: a new colleague is mentioned
# by name until then.
PEOPLE_TTL_S = 600.0


def _listed_person(user: object) -> Person | None:
    """A users.list entry → a person (bots and malformed entries: None)."""
    if not isinstance(user, dict) or user.get("type") != "person" or not user.get("id"):
        return None
    info = user.get("person") if isinstance(user.get("person"), dict) else {}
    email = info.get("email") if isinstance(info, dict) else None
    return Person(
        id=str(user["id"]),
        name=str(user.get("name") or ""),
        email=email if isinstance(email, str) else None,
    )


class NotionGateway:
    """Every Notion call the worker makes. Rows, pages and child blocks come back parsed
    (`Incident`, `NotionPage`, `ChildBlock`); only `read_tree` hands on a page's blocks as
    Notion wrote them, for `pages.to_markdown` to read, and `list_children` the raw listing
    it reads them from."""

    def __init__(
        self,
        client: notion_client.Client,
        settings: Settings,
        *,
        budget_s: float = 60.0,
        pacer: Pacer | None = None,
        on_response: OnResponse | None = None,
        on_retry: Callable[[], None] | None = None,
        server_clock: ServerClock | None = None,
        hold: Hold | None = None,
        sleep: Callable[[float], None] = time.sleep,
        inline_wait_s: float = INLINE_WAIT_S,
    ) -> None:
        self.client = client
        self.settings = settings
        self.budget_s = budget_s
        self.pacer = pacer
        # Until when Notion asked us to wait (its clock may be replaced by a test's).
        self.hold = hold if hold is not None else Hold()
        self._sleep = sleep
        self.inline_wait_s = inline_wait_s
        # What the gateway reports (the runtime counts it for /metrics): answers the httpx
        # hook does not see (none came), and each retry.
        self.on_response = on_response
        self.on_retry = on_retry
        self.server_clock = server_clock or ServerClock()
        self._sources: dict[str, str] = {}
        self._titles: dict[str, str] = {}
        self._users: dict[str, Person] = {}
        self._people: tuple[float, dict[str, Person]] | None = None
        self._owns_client = True

    def for_database(self, settings: Settings) -> NotionGateway:
        """The gateway as one Incidents database's worker uses it (`settings` of that
        database): the same connection, pace, wait Notion asked for and caches as this one,
        so that every database's calls together keep to one integration's rate."""
        sibling = copy.copy(self)
        sibling.settings = settings
        sibling._owns_client = False  # closed with this one
        return sibling

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        on_response: OnResponse | None = None,
        on_retry: Callable[[], None] | None = None,
    ) -> NotionGateway:
        """The gateway to `NOTION_BASE_URL`; `on_response` hears every answer (and each
        request none came for), `on_retry` each request repeated in place."""
        # Notion counts a connection's requests per 60-second window: never more than a
        # window's worth at our rate in any 60 s (plus a second for the network's jitter).
        rate = settings.notion_requests_per_s
        pacer = Pacer(rate, window=(max(1, int(rate * 60)), NOTION_WINDOW_S))
        hook = response_hook(on_response) if on_response is not None else None
        server_clock = ServerClock()
        client = build_client(settings, pacer, on_response=hook, server_clock=server_clock)
        return cls(
            client,
            settings,
            pacer=pacer,
            on_response=on_response,
            on_retry=on_retry,
            server_clock=server_clock,
        )

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    # --- the one place calls go through -------------------------------------------------

    def call(self, operation: str, fn: Callable[[], object], *, idempotent: bool) -> dict[str, Any]:
        """Run `fn`; retry transient failures when repeating is harmless, within a budget
        (a write that is not idempotent: only when Notion refused it unread or saved nothing,
        a rate limit or a conflict). While Notion asked to wait, nothing is sent: the
        ServiceError says how long is left."""
        held_s = self.hold.remaining_s()
        if held_s > 0:
            raise self._held(operation, held_s)
        retrying = Retrying(
            retry=retry_if_exception(_is_transient if idempotent else _not_carried_out),
            stop=stop_after_attempt(5)
            | stop_before_delay(self.budget_s)
            | _LongWait(self.inline_wait_s),
            wait=_wait,
            before_sleep=self._before_retry,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            result = retrying(fn)
        except (HTTPResponseError, RequestTimeoutError, httpx.TransportError) as exc:
            self._no_answer(exc)
            if _asks_to_wait(exc):
                self._hold_for(operation, exc)
            raise as_service_error(operation, exc, write=not idempotent) from exc
        if not isinstance(result, dict):
            raise ServiceError("notion", operation, "the answer is not a JSON object")
        return result

    def waiting(self, now: datetime) -> NotionWait | None:
        """Whether Notion asked us to wait, and until when (from `now`)."""
        held_s = self.hold.remaining_s()
        if held_s <= 0:
            return None
        return NotionWait(now + timedelta(seconds=held_s), self.hold.reason)

    def _hold_for(self, operation: str, exc: BaseException) -> None:
        """Hold every Notion call for the wait Notion asked for; said once per wait."""
        wait_s = _retry_after_s(exc) or 0.0
        reason = _wait_reason(exc)
        if self.hold.wait(wait_s, reason):
            log.warning(
                "notion: %s (%s, request id %s): Notion asked to wait %.0fs; nothing is sent "
                "to Notion until then (polls skip their read, Notion writes keep their place), "
                "and Slack work goes on",
                reason,
                operation,
                _request_id(exc) or "-",
                wait_s,
            )

    def _held(self, operation: str, held_s: float) -> ServiceError:
        return ServiceError(
            "notion",
            operation,
            f"not sent: Notion asked to wait ({self.hold.reason}); {held_s:.0f}s to go",
            code="rate_limited",
            status=429,
            retryable=True,
            retry_after_s=held_s,
        )

    def _before_retry(self, state: RetryCallState) -> None:
        _log_retry(state)
        if self.on_retry is not None:
            self.on_retry()
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None:
            self._no_answer(exc)

    def _no_answer(self, exc: BaseException) -> None:
        """Report a timeout or dropped connection (answers are reported by the httpx hook)."""
        if self.on_response is not None and _http_status(exc) is None:
            self.on_response(None, _code(exc))

    # --- reads ----------------------------------------------------------------------------

    def data_source_id(self) -> str:
        """The Incidents data source, discovered from the database (2025-09-03)."""
        return self.data_source_of(self.settings.notion_database_id)

    def schema(self, database_id: str | None = None) -> DataSourceSchema:
        """The properties of a database's data source (the Incidents database by default)."""
        ds_id = self.data_source_id() if database_id is None else self.data_source_of(database_id)
        raw = self.call(
            "data_sources.retrieve",
            lambda: self.client.data_sources.retrieve(ds_id),
            idempotent=True,
        )
        props: dict[str, tuple[str, tuple[str, ...]]] = {}
        for name, prop in (raw.get("properties") or {}).items():
            kind = str(prop.get("type", ""))
            options = (
                (prop.get(kind) or {}).get("options") or [] if kind in ("select", "status") else []
            )
            props[name] = (kind, tuple(str(o.get("name", "")) for o in options))
        title = "".join(t.get("plain_text", "") for t in raw.get("title") or [])
        return DataSourceSchema(id=ds_id, title=title, properties=props)

    def changed_rows(
        self, since: datetime | None, *, in_trash: bool = False
    ) -> Iterator[Incident | RowError]:
        """Rows edited on or after `since` (all rows when None), oldest edit first; with
        `in_trash`, the rows in the trash instead (moving a row there is an edit)."""
        for rows in self.changed_row_pages(since, in_trash=in_trash):
            yield from rows

    def changed_row_pages(
        self, since: datetime | None, *, in_trash: bool = False
    ) -> Iterator[list[Incident | RowError]]:
        """`changed_rows`, one page of Notion's answer at a time (up to 100 rows, each page
        read when the previous one is done with)."""
        ds_id = self.data_source_id()
        body: dict[str, Any] = {
            "sorts": [{"timestamp": "last_edited_time", "direction": "ascending"}],
            "page_size": 100,
        }
        if in_trash:
            body["in_trash"] = True
        if since is not None:
            stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            body["filter"] = {
                "timestamp": "last_edited_time",
                "last_edited_time": {"on_or_after": stamp},
            }
        cursor: str | None = None
        while True:
            page_body = dict(body, start_cursor=cursor) if cursor else body
            result = self._query_page(ds_id, page_body)
            yield [self._parse(raw) for raw in result.get("results") or []]
            cursor = result.get("next_cursor")
            if not result.get("has_more") or not cursor:
                return

    def _query_page(self, ds_id: str, body: dict[str, Any]) -> dict[str, Any]:
        def query() -> object:
            return self.client.data_sources.query(data_source_id=ds_id, **body)

        return self.call("data_sources.query", query, idempotent=True)

    def _parse(self, raw: dict[str, Any]) -> Incident | RowError:
        try:
            return parse_incident(raw, self.settings)
        except RowError as exc:
            return exc

    def list_children(self, block_id: str) -> Iterator[dict[str, Any]]:
        """The direct children of a page or block, every page of them (raw blocks)."""
        cursor: str | None = None
        while True:
            fetch = partial(
                self.client.blocks.children.list,
                block_id=block_id,
                page_size=100,
                start_cursor=cursor,
            )
            result = self.call("blocks.children.list", fetch, idempotent=True)
            yield from result.get("results") or []
            cursor = result.get("next_cursor")
            if not result.get("has_more") or not cursor:
                return

    def read_tree(self, block_id: str, depth: int = 0) -> list[dict[str, Any]]:
        """A page's blocks with their children nested under a `children` key (for reading
        pages back as Markdown)."""
        blocks = []
        for raw in self.list_children(block_id):
            block = raw
            if (
                block.get("has_children")
                and block.get("type") not in ("child_page", "child_database")
                and depth < 8
            ):
                block = dict(block, children=self.read_tree(str(block["id"]), depth + 1))
            blocks.append(block)
        return blocks

    def data_source_of(self, database_id: str) -> str:
        """The (first) data source of a database, cached."""
        cached = self._sources.get(database_id)
        if cached is None:
            database = self.call(
                "databases.retrieve",
                lambda: self.client.databases.retrieve(database_id),
                idempotent=True,
            )
            sources = database.get("data_sources") or []
            if not sources:
                raise ServiceError(
                    "notion", "databases.retrieve", f"database {database_id} has no data source"
                )
            title = "".join(t.get("plain_text", "") for t in database.get("title") or [])
            self._titles[database_id] = title.strip()
            cached = self._sources[database_id] = str(sources[0]["id"])
        return cached

    def database_title(self, database_id: str) -> str:
        """The database's title as its data source was discovered ("" if it has none)."""
        self.data_source_of(database_id)
        return self._titles.get(database_id, "")

    # --- pages and blocks, parsed (worker/pages/parse.py) ---------------------------------

    def query(self, data_source_id: str, filter_: dict[str, Any]) -> list[NotionPage]:
        """Rows of another data source matching a filter (one page of results)."""
        result = self._query_page(data_source_id, {"filter": filter_, "page_size": 100})
        return [parse_page(raw) for raw in result.get("results") or []]

    def page(self, page_id: str) -> NotionPage:
        raw = self.call(
            "pages.retrieve", lambda: self.client.pages.retrieve(page_id), idempotent=True
        )
        return parse_page(raw)

    def child_blocks(self, block_id: str) -> Iterator[ChildBlock]:
        """The direct children of a page or block, every page of them."""
        return (parse_child_block(raw) for raw in self.list_children(block_id))

    def create_page(
        self, parent: dict[str, Any], properties: dict[str, Any], children: Sequence[Block]
    ) -> NotionPage:
        """Create a page with its first blocks. Not idempotent: sent again only when Notion
        refused it unread or saved nothing; otherwise its outcome is for the caller to find."""

        def create() -> object:
            return self.client.pages.create(
                parent=parent, properties=properties, children=list(children)
            )

        return parse_page(self.call("pages.create", create, idempotent=False))

    def create_database(
        self, parent_page_id: str, title: str, emoji: str, properties: dict[str, Any]
    ) -> str:
        """Create a database (with its first data source) under a page; its id. Not retried
        blindly: a repeat could create a second database."""
        body = {
            "parent": {"type": "page_id", "page_id": parent_page_id},
            "title": [{"type": "text", "text": {"content": title}}],
            "icon": {"type": "emoji", "emoji": emoji},
            "initial_data_source": {"properties": properties},
        }
        created = self.call(
            "databases.create", lambda: self.client.databases.create(**body), idempotent=False
        )
        return str(created["id"])

    def append_blocks(
        self, block_id: str, children: Sequence[Block], *, after: str | None = None
    ) -> list[str]:
        """Append blocks under a page or block (not idempotent, like `create_page`), at the
        end or right after the child block `after`; the ids of the blocks created at the
        first level, in order."""
        where = {"after": after} if after is not None else {}

        def append() -> object:
            return self.client.blocks.children.append(
                block_id=block_id, children=list(children), **where
            )

        result = self.call("blocks.children.append", append, idempotent=False)
        return [str(block["id"]) for block in result.get("results") or []]

    def update_block(self, block_id: str, body: dict[str, Any]) -> None:
        """Rewrite a block's content (`body`: its type and what it holds, e.g.
        `{"bulleted_list_item": {"rich_text": [...]}}`). The same body twice leaves the same
        block: retried like a read."""
        self.call(
            "blocks.update",
            lambda: self.client.blocks.update(block_id=block_id, **body),
            idempotent=True,
        )

    # --- incidents and users --------------------------------------------------------------

    def retrieve_incident(self, page_id: str) -> Incident:
        raw = self.call(
            "pages.retrieve", lambda: self.client.pages.retrieve(page_id), idempotent=True
        )
        return parse_incident(raw, self.settings)

    def me(self) -> Person:
        raw = self.call("users.me", self.client.users.me, idempotent=True)
        return Person(id=str(raw["id"]), name=str(raw.get("name") or ""), is_bot=True)

    def user(self, user_id: str) -> Person:
        """A user by id, cached; an unknown or hidden user becomes a Person with only an id."""
        cached = self._users.get(user_id)
        if cached is not None:
            return cached
        try:
            raw = self.call(
                "users.retrieve", lambda: self.client.users.retrieve(user_id), idempotent=True
            )
        except ServiceError as exc:
            if exc.retryable:
                raise
            return Person(id=user_id)
        person_info = raw.get("person") or {}
        person = Person(
            id=user_id,
            name=str(raw.get("name") or ""),
            email=person_info.get("email"),
            is_bot=raw.get("type") == "bot",
        )
        self._users[user_id] = person
        return person

    def people_by_email(self, now_s: float, max_age_s: float = PEOPLE_TTL_S) -> dict[str, Person]:
        """The workspace's people by lower-cased email (users.list, every page), read again
        once the last read is older than `max_age_s` (`now_s`: seconds since the epoch): a
        Slack author or clicker is matched to a Notion person this way. Members only (a
        guest is not listed). Emails come only with the integration's user-email
        capability; without it the map is empty and people are named, not mentioned."""
        if self._people is not None and 0 <= now_s - self._people[0] < max_age_s:
            return self._people[1]
        found: dict[str, Person] = {}
        cursor: str | None = None
        while True:
            start = {"start_cursor": cursor} if cursor else {}
            raw = self.call(
                "users.list",
                partial(self.client.users.list, page_size=100, **start),
                idempotent=True,
            )
            for user in raw.get("results") or []:
                person = _listed_person(user)
                if person is not None and person.email:
                    found.setdefault(person.email.lower(), person)
            cursor = raw.get("next_cursor") if raw.get("has_more") else None
            if not cursor:
                break
        self._people = (now_s, found)
        return found

    # --- writes ---------------------------------------------------------------------------

    def update_properties(self, page_id: str, properties: dict[str, Any]) -> None:
        """Setting properties is idempotent, so it is retried like a read."""
        self.call(
            "pages.update",
            lambda: self.client.pages.update(page_id=page_id, properties=properties),
            idempotent=True,
        )

    # --- people, for what they do in Slack -------------------------------------------------

    def person_by_email(self, email: str) -> Person | None:
        """The Notion person with this email, compared without case; None when there is
        none. Someone acting from Slack may have just been added to Notion: a list older
        than a minute is read again."""
        people = self.people_by_email(time.time(), max_age_s=_LOOKUP_MAX_AGE_S)
        return people.get(email.strip().lower())


# A worker-owned property's value (a URL, an ISO date; None empties it) in Notion's shape,
# by the property's type.
_WRITTEN_AS: dict[str, Callable[[str | None], dict[str, Any]]] = {
    "url": lambda value: {"url": value},
    "date": lambda value: {"date": {"start": value} if value else None},
}


# How old the workspace's people may be when someone acting from Slack is looked up.
_LOOKUP_MAX_AGE_S = 60.0


def from_slack_values(
    settings: Settings, *, status_update: str | None = None, commander: Person | None = None
) -> dict[str, Any]:
    """What people set from Slack → the `properties` body of pages.update: *Status update*
    as rich text (2,000 UTF-16 units a text object, 100 objects at most), *Commander* as
    that one person."""
    properties: dict[str, Any] = {}
    if status_update is not None:
        pieces = split_utf16(status_update, MAX_TEXT_UTF16)[:MAX_ARRAY_ITEMS]
        properties[settings.properties["status_update"]] = {
            "rich_text": [{"type": "text", "text": {"content": piece}} for piece in pieces if piece]
        }
    if commander is not None:
        properties[settings.properties["commander"]] = {
            "people": [{"object": "user", "id": commander.id}]
        }
    return properties


def property_values(settings: Settings, values: dict[str, str | None]) -> dict[str, Any]:
    """Logical worker-owned properties → the `properties` body of pages.update."""
    return {
        settings.properties[logical]: _WRITTEN_AS[BY_KEY[logical].created_type](value)
        for logical, value in values.items()
    }
