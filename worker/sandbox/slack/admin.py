"""Sandbox Slack: `/_sandbox/*` admin routes (no auth) mirroring the emulator's test helpers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from worker.sandbox.ratelimit import RateLimit

if TYPE_CHECKING:
    from worker.sandbox.slack.emulator import SlackEmulator

Endpoint = Callable[[Request], Awaitable[Response]]


def admin_routes(emulator: SlackEmulator) -> list[Route]:
    """Routes for black-box tests: inspect messages and pings, change channels and scopes."""
    admin = _Admin(emulator)
    table: list[tuple[str, Callable[[Request], Awaitable[Any]], list[str]]] = [
        ("/_sandbox/messages", admin.messages, ["GET"]),
        ("/_sandbox/pings", admin.pings, ["GET"]),
        ("/_sandbox/orphans", admin.orphans, ["GET"]),
        ("/_sandbox/ephemeral", admin.ephemeral, ["GET"]),
        ("/_sandbox/channels", admin.create_channel, ["POST"]),
        ("/_sandbox/channels/{channel_id}/archive", admin.archive, ["POST"]),
        ("/_sandbox/channels/{channel_id}/unarchive", admin.unarchive, ["POST"]),
        ("/_sandbox/scopes", admin.scopes, ["GET", "PUT"]),
        ("/_sandbox/rate_limits", admin.rate_limits, ["PUT"]),
        ("/_sandbox/state", admin.state, ["GET", "PUT"]),
    ]
    return [Route(path, as_json(handler), methods=verbs) for path, handler, verbs in table]


class _Admin:
    def __init__(self, emulator: SlackEmulator) -> None:
        self.emulator = emulator

    async def messages(self, request: Request) -> Any:
        channel = request.query_params.get("channel")
        return self.emulator.channel_messages(channel) if channel else self.emulator.all_messages()

    async def pings(self, request: Request) -> Any:
        channel, ts = request.query_params.get("channel"), request.query_params.get("ts")
        if channel and ts:
            return {
                "channel": channel,
                "ts": ts,
                "pings": sorted(self.emulator.pings(channel, ts)),
                "edit_pings": sorted(self.emulator.edit_pings(channel, ts)),
            }
        return self.emulator.all_pings()

    async def orphans(self, request: Request) -> Any:
        return self.emulator.orphan_replies()

    async def ephemeral(self, request: Request) -> Any:
        return self.emulator.ephemeral_messages()

    async def create_channel(self, request: Request) -> Any:
        spec = await json_body(request)
        channel_id = self.emulator.create_channel(
            str(spec["name"]),
            is_private=bool(spec.get("is_private", True)),
            members=spec.get("members"),
            bot_is_member=bool(spec.get("bot_is_member", False)),
        )
        return {"channel": channel_id}

    async def archive(self, request: Request) -> Any:
        self.emulator.archive_channel(request.path_params["channel_id"])
        return {"ok": True}

    async def unarchive(self, request: Request) -> Any:
        self.emulator.unarchive_channel(request.path_params["channel_id"])
        return {"ok": True}

    async def scopes(self, request: Request) -> Any:
        if request.method == "PUT":
            self.emulator.set_bot_scopes((await json_body(request))["scopes"])
        return {"scopes": sorted(self.emulator.bot_scopes)}

    async def rate_limits(self, request: Request) -> Any:
        spec = await json_body(request)
        post = spec.get("post_rate")
        self.emulator.set_rate_limits(
            post_rate=RateLimit(float(post["rate_per_s"]), float(post["burst"])) if post else None,
            tier_limits=spec.get("tier_limits"),
        )
        return {"ok": True}

    async def state(self, request: Request) -> Any:
        if request.method == "PUT":
            self.emulator.load(await json_body(request))
        return self.emulator.dump()


def as_json(handler: Callable[[Request], Awaitable[Any]]) -> Endpoint:
    """A handler's answer as JSON; a missing thing is 404, a malformed request 400 (both
    sandbox route sets use it)."""

    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await handler(request))
        except KeyError as error:
            return JSONResponse({"error": f"not found: {error.args[0]}"}, status_code=404)
        except (ValueError, TypeError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)

    return endpoint


async def json_body(request: Request) -> dict[str, Any]:
    data = json.loads(await request.body() or b"{}")
    if not isinstance(data, dict):
        raise TypeError("expected a JSON object")
    return data
