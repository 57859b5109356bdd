"""Sandbox Slack: `/_sandbox/*` routes for inbound Slack (no auth), mirroring the emulator's
helpers: act as a person (click, submit, shortcut, command), look at views and deliveries,
point events at a URL, ask sockets to reconnect, and the response_url that apps POST to.

The acting routes wait for the app's ack, so they run in a worker thread: the ack itself
arrives over a WebSocket served by this same event loop.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from worker.sandbox.slack.admin import as_json, json_body

if TYPE_CHECKING:
    from worker.sandbox.slack.emulator import SlackEmulator


def inbound_routes(emulator: SlackEmulator) -> list[Route]:
    routes = _InboundAdmin(emulator)
    table: list[tuple[str, Callable[[Request], Awaitable[Any]], list[str]]] = [
        ("/_sandbox/click", routes.click, ["POST"]),
        ("/_sandbox/submit", routes.submit, ["POST"]),
        ("/_sandbox/shortcut", routes.shortcut, ["POST"]),
        ("/_sandbox/command", routes.command, ["POST"]),
        ("/_sandbox/views", routes.views, ["GET"]),
        ("/_sandbox/deliveries", routes.deliveries, ["GET"]),
        ("/_sandbox/events-url", routes.events_url, ["POST"]),
        ("/_sandbox/disconnect", routes.disconnect, ["POST"]),
        ("/_sandbox/files", routes.attach_file, ["POST"]),
        ("/_sandbox/responses", routes.responses, ["GET"]),
        ("/_sandbox/respond/{channel}/{ts}", routes.respond, ["POST"]),
    ]
    return [Route(path, as_json(handler), methods=verbs) for path, handler, verbs in table]


class _InboundAdmin:
    def __init__(self, emulator: SlackEmulator) -> None:
        self.emulator = emulator

    async def _spec(self, request: Request) -> dict[str, Any]:
        self.emulator.base_url = str(request.base_url).rstrip("/")
        return await json_body(request)

    async def click(self, request: Request) -> Any:
        spec = await self._spec(request)
        return await run_in_threadpool(
            self.emulator.click,
            _text(spec, "user"),
            _text(spec, "action_id"),
            channel=spec.get("channel"),
            ts=spec.get("ts"),
            view_id=spec.get("view_id"),
        )

    async def submit(self, request: Request) -> Any:
        spec = await self._spec(request)
        return await run_in_threadpool(
            self.emulator.submit, _text(spec, "user"), _text(spec, "view_id"), spec.get("values")
        )

    async def shortcut(self, request: Request) -> Any:
        spec = await self._spec(request)
        return await run_in_threadpool(
            self.emulator.shortcut,
            _text(spec, "user"),
            _text(spec, "callback_id"),
            channel=spec.get("channel"),
            message_ts=spec.get("message_ts"),
        )

    async def command(self, request: Request) -> Any:
        spec = await self._spec(request)
        return await run_in_threadpool(
            self.emulator.command,
            _text(spec, "user"),
            _text(spec, "command"),
            str(spec.get("text", "")),
            _text(spec, "channel"),
        )

    async def views(self, request: Request) -> Any:
        user = request.query_params.get("user")
        if not user:
            raise ValueError("views needs ?user=<Slack user id>")
        return self.emulator.views(user)

    async def deliveries(self, request: Request) -> Any:
        return self.emulator.deliveries()

    async def events_url(self, request: Request) -> Any:
        spec = await self._spec(request)
        url = spec.get("url")
        if url is not None and not (isinstance(url, str) and url.startswith("http")):
            raise ValueError(f"url must be an http(s) URL or null, got {url!r}")
        self.emulator.set_events_url(url)
        return {"ok": True, "url": url}

    async def disconnect(self, request: Request) -> Any:
        spec = await self._spec(request)
        told = self.emulator.disconnect_sockets(str(spec.get("reason", "refresh_requested")))
        return {"ok": True, "sockets": told}

    async def attach_file(self, request: Request) -> Any:
        spec = await self._spec(request)
        return self.emulator.attach_file(
            _text(spec, "channel"), _text(spec, "ts"), _text(spec, "name")
        )

    async def responses(self, request: Request) -> Any:
        return self.emulator.responses()

    async def respond(self, request: Request) -> Any:
        """A response_url: Bolt's `respond()` POSTs JSON here (what Slack then shows is
        recorded, not rendered)."""
        body = json.loads(await request.body() or b"{}")
        params = request.path_params
        self.emulator.record_response(params["channel"], params["ts"], body)
        return {"ok": True}


def _text(spec: dict[str, Any], name: str) -> str:
    value = spec.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"missing {name!r}")
    return value
