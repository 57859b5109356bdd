"""Notion emulator: the HTTP face — version, auth, rate limit, JSON body, routing, errors."""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as StarletteRoute

from worker.sandbox.notion import content, databases, pages, query
from worker.sandbox.notion.conflicts import Conflicts, touched
from worker.sandbox.notion.errors import (
    NotionError,
    invalid,
    invalid_request_url,
    rate_limited,
    require_dict,
    unauthorized,
    user_not_found,
    validation_error,
)
from worker.sandbox.notion.limits import NotionLimiter
from worker.sandbox.notion.paging import list_body, query_page_size, start_cursor, window
from worker.sandbox.notion.records import Json
from worker.sandbox.notion.store import State, require_id
from worker.sandbox.notion.users import Actor

log = logging.getLogger(__name__)

KNOWN_VERSIONS = ("2021-05-13", "2021-08-16", "2022-02-22", "2022-06-28", "2025-09-03",
                  "2026-03-11")  # fmt: skip
DATA_SOURCES_SINCE = "2025-09-03"
# Notion caps a request body at 500 KB. Oversized bodies have been seen answered with 413 by
# the edge; we answer 400 validation_error (what the request-limits page documents), so the
# one error type the SDK knows covers every limit.
MAX_BODY_BYTES = 500 * 1024
_ALL_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]


@dataclass
class Call:
    """One authenticated API request, as the operations see it."""

    actor: Actor
    version: str
    ids: list[str]
    query: dict[str, list[str]]
    body: Json

    def one(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def filter_properties(self) -> list[str] | None:
        return self.query.get("filter_properties") or None


Handler = Callable[[State, Call], Json]


@dataclass(frozen=True)
class Route:
    name: str  # the operation, as notion-client names it: "pages.create"
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    # Path parameters: names for id validation ("path.page_id"); None = taken as is.
    params: tuple[str | None, ...] = ()
    data_sources: bool = False
    request_id: bool = True


def _route(
    name: str, method: str, template: str, handler: Handler, *params: str | None, **flags: bool
) -> Route:
    pattern = re.compile("^" + template.replace("{}", "([^/]+)") + "$")
    return Route(name, method, pattern, handler, params, **flags)


# -- handlers -------------------------------------------------------------------------------


def _users_list(state: State, call: Call) -> Json:
    ids = state.directory.user_ids()
    size = query_page_size(call.one("page_size"), "query.page_size")
    cursor = start_cursor(call.one("start_cursor"), "query.start_cursor")
    start, end = window(ids, cursor, size, "query.start_cursor")
    results = [state.directory.user(i) or {} for i in ids[start:end]]
    return list_body(results, ids[end] if end < len(ids) else None, "user")


def _users_me(state: State, call: Call) -> Json:
    return state.directory.user(call.actor.user_id) or {}


def _users_retrieve(state: State, call: Call) -> Json:
    user = state.directory.user(call.ids[0])
    if user is None:
        raise user_not_found(call.ids[0], state.directory.bot_id)
    return user


def _property_item(state: State, call: Call) -> Json:
    query_args = {k: call.one(k) for k in ("start_cursor", "page_size")}
    return pages.property_item(state, call.actor, call.ids[0], call.ids[1], query_args)


def _children_list(state: State, call: Call) -> Json:
    size = query_page_size(call.one("page_size"), "query.page_size")
    cursor = start_cursor(call.one("start_cursor"), "query.start_cursor")
    return content.list_children(state, call.actor, call.ids[0], cursor, size)


ROUTES: list[Route] = [
    _route("users.list", "GET", "/v1/users", _users_list),
    _route("users.me", "GET", "/v1/users/me", _users_me),
    _route("users.retrieve", "GET", "/v1/users/{}", _users_retrieve, "user_id"),
    _route("pages.create", "POST", "/v1/pages",
           lambda s, c: pages.create_page(s, c.actor, c.body)),
    _route("pages.retrieve", "GET", "/v1/pages/{}", lambda s, c: pages.retrieve_page(
        s, c.actor, c.ids[0], c.filter_properties()), "page_id"),
    _route("pages.update", "PATCH", "/v1/pages/{}", lambda s, c: pages.update_page(
        s, c.actor, c.ids[0], c.body), "page_id"),
    _route("pages.properties.retrieve", "GET", "/v1/pages/{}/properties/{}", _property_item,
           "page_id", None),
    _route("blocks.retrieve", "GET", "/v1/blocks/{}", lambda s, c: content.retrieve_block(
        s, c.actor, c.ids[0]), "block_id"),
    _route("blocks.update", "PATCH", "/v1/blocks/{}", lambda s, c: content.update_block(
        s, c.actor, c.ids[0], c.body), "block_id"),
    _route("blocks.delete", "DELETE", "/v1/blocks/{}", lambda s, c: content.delete_block(
        s, c.actor, c.ids[0]), "block_id"),
    _route("blocks.children.list", "GET", "/v1/blocks/{}/children", _children_list, "block_id"),
    _route("blocks.children.append", "PATCH", "/v1/blocks/{}/children",
           lambda s, c: content.append_children(s, c.actor, c.ids[0], c.body), "block_id"),
    _route("databases.create", "POST", "/v1/databases",
           lambda s, c: databases.create_database(s, c.actor, c.body)),
    _route("databases.retrieve", "GET", "/v1/databases/{}",
           lambda s, c: databases.retrieve_database(s, c.actor, c.ids[0]), "database_id"),
    _route("databases.update", "PATCH", "/v1/databases/{}",
           lambda s, c: databases.update_database(s, c.actor, c.ids[0], c.body), "database_id"),
    _route("data_sources.create", "POST", "/v1/data_sources",
           lambda s, c: databases.create_data_source(s, c.actor, c.body), data_sources=True),
    _route("data_sources.retrieve", "GET", "/v1/data_sources/{}",
           lambda s, c: databases.retrieve_data_source(s, c.actor, c.ids[0]),
           "data_source_id", data_sources=True),
    _route("data_sources.update", "PATCH", "/v1/data_sources/{}",
           lambda s, c: databases.update_data_source(s, c.actor, c.ids[0], c.body),
           "data_source_id", data_sources=True),
    _route("data_sources.query", "POST", "/v1/data_sources/{}/query",
           lambda s, c: query.query_data_source(
               s, c.actor, c.ids[0], c.body, c.filter_properties()),
           "data_source_id", data_sources=True),
    _route("data_sources.list_templates", "GET", "/v1/data_sources/{}/templates",
           lambda s, c: databases.list_templates(s, c.actor, c.ids[0]),
           "data_source_id", data_sources=True, request_id=False),
    _route("search", "POST", "/v1/search", lambda s, c: query.search(s, c.actor, c.body)),
]  # fmt: skip
OPERATIONS = frozenset(route.name for route in ROUTES)


def match_route(method: str, path: str) -> tuple[Route, list[str]] | None:
    for route in ROUTES:
        found = route.pattern.match(path)
        if found is not None and route.method == method:
            return route, list(found.groups())
    return None


# -- the request pipeline -------------------------------------------------------------------


class Admin(Protocol):
    """The Python-level admin helpers the `/_sandbox/` routes expose."""

    def share(self, object_id: str, shared: bool = True) -> None: ...

    def force_conflicts(
        self, operation: str, count: int = 1, target: str | None = None
    ) -> None: ...

    def set_conflict_window(self, window_s: float) -> None: ...

    def set_status_options(
        self, data_source_id: str, property_name: str, options: list[tuple[str, str]]
    ) -> None: ...


@dataclass
class Api:
    """Turns HTTP requests into calls on the state, under the emulator's lock."""

    state: State
    lock: threading.RLock
    limiter: NotionLimiter
    admin: Admin
    conflicts: Conflicts

    async def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        add_request_id = True
        try:
            route, call = await self._prepare(request)
            add_request_id = route.request_id
            with self.lock:
                body = self._run(route, call)
        except NotionError as error:
            return _error_response(error, request_id)
        except Exception:  # an emulator bug still answers like Notion's 500
            log.exception("Notion emulator failed on %s %s", request.method, request.url.path)
            crash = NotionError(500, "internal_server_error", "Unexpected error occurred.")
            return _error_response(crash, request_id)
        if add_request_id:
            body = {**body, "request_id": request_id}
        return JSONResponse(body, 200, headers={"x-notion-request-id": request_id})

    def _run(self, route: Route, call: Call) -> Json:
        """Carry the call out, unless it collides with another write (409, nothing saved)."""
        target = touched(self.state, route.name, call.ids, call.body)
        self.conflicts.check(route.name, target, call.actor.user_id)
        body = route.handler(self.state, call)
        self.conflicts.record(route.name, target, call.actor.user_id)
        return body

    async def _prepare(self, request: Request) -> tuple[Route, Call]:
        version = _version(request.headers.get("notion-version"))
        matched = match_route(request.method, request.url.path)
        if matched is None:
            raise invalid_request_url()
        route, raw_params = matched
        if route.data_sources and version < DATA_SOURCES_SINCE:
            raise invalid_request_url()
        token = _bearer_token(request.headers.get("authorization", ""))
        actor = self.state.directory.actor_for_token(token)
        if actor is None:
            raise unauthorized()
        refused = self.limiter.admit(token)
        if refused is not None:
            raise rate_limited(*refused)
        body = await _json_body(request) if request.method in ("POST", "PATCH") else {}
        ids = [
            raw if name is None else require_id(raw, f"path.{name}")
            for name, raw in zip(route.params, raw_params, strict=True)
        ]
        query_params: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            query_params.setdefault(key, []).append(value)
        return route, Call(actor, version, ids, query_params, body)

    # -- admin routes (no auth, never rate limited) ---------------------------------------

    async def share_route(self, request: Request) -> Response:
        async def run(body: Json) -> None:
            object_id = require_id(body.get("id"), "body.id")
            self.admin.share(object_id, bool(body.get("shared", True)))

        return await _admin_call(request, run)

    async def conflicts_route(self, request: Request) -> Response:
        """`{"operation": "pages.create", "count": 2, "target": id?}` forces conflicts;
        `{"window_s": 2.0}` sets how close two users' writes must be to collide."""

        async def run(body: Json) -> None:
            if "window_s" in body:
                self.admin.set_conflict_window(_seconds(body["window_s"], "body.window_s"))
            if "operation" in body:
                target = body.get("target")
                self.admin.force_conflicts(
                    str(body["operation"]),
                    _count(body.get("count", 1)),
                    None if target is None else require_id(target, "body.target"),
                )

        return await _admin_call(request, run)

    async def status_options_route(self, request: Request) -> Response:
        async def run(body: Json) -> None:
            source_id = require_id(body.get("data_source_id"), "body.data_source_id")
            options = [_status_option(o) for o in body.get("options") or []]
            self.admin.set_status_options(source_id, str(body.get("property")), options)

        return await _admin_call(request, run)


def _count(raw: object) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
        raise invalid("body.count", "a whole number ≥ 1", raw)
    return raw


def _seconds(raw: object, path: str) -> float:
    if not isinstance(raw, int | float) or isinstance(raw, bool) or raw < 0:
        raise invalid(path, "a number of seconds ≥ 0", raw)
    return float(raw)


def _status_option(raw: object) -> tuple[str, str]:
    if isinstance(raw, dict):
        return str(raw.get("name")), str(raw.get("group"))
    if isinstance(raw, list | tuple) and len(raw) == 2:
        return str(raw[0]), str(raw[1])
    raise invalid("body.options[]", "[name, group] or {name, group}", raw)


async def _admin_call(request: Request, run: Callable[[Json], Any]) -> Response:
    try:
        await run(await _json_body(request))
    except (NotionError, KeyError, ValueError) as error:
        message = error.message if isinstance(error, NotionError) else str(error)
        return JSONResponse({"ok": False, "error": message}, 400)
    return JSONResponse({"ok": True})


def _bearer_token(header: str) -> str:
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _version(header: str | None) -> str:
    if header is None:
        raise NotionError(
            400,
            "missing_version",
            "Notion-Version header failed validation: Notion-Version header should be defined, "
            "instead was `undefined`.",
        )
    if header not in KNOWN_VERSIONS:
        raise validation_error(
            "Notion-Version header failed validation: Notion-Version header should be one of "
            f"{', '.join(KNOWN_VERSIONS)}, instead was `{header}`."
        )
    return header


async def _json_body(request: Request) -> Json:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise validation_error(
            f"body failed validation: the request body is {len(raw)} bytes, more than the "
            f"limit of `{MAX_BODY_BYTES}`."
        )
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise NotionError(400, "invalid_json", "Error parsing JSON body.") from None
    return require_dict(parsed, "body")


def _error_response(error: NotionError, request_id: str) -> Response:
    headers = {"x-notion-request-id": request_id, **error.headers}
    return JSONResponse(error.body(request_id), error.status, headers=headers)


def build_app(api: Api) -> Starlette:
    return Starlette(
        routes=[
            StarletteRoute("/_sandbox/share", api.share_route, methods=["POST"]),
            StarletteRoute("/_sandbox/status_options", api.status_options_route, methods=["POST"]),
            StarletteRoute("/_sandbox/conflicts", api.conflicts_route, methods=["POST"]),
            StarletteRoute("/{path:path}", api.handle, methods=_ALL_METHODS),
        ]
    )
