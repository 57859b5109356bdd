"""Sandbox Slack: the HTTP face of the Web API, `GET|POST /api/<method>`, always JSON."""

from __future__ import annotations

import hashlib
import itertools
import threading
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from worker.sandbox.slack.dispatch import Dispatcher
from worker.sandbox.slack.errors import SlackError
from worker.sandbox.slack.params import parse_request


class RequestIds:
    """`x-slack-req-id` values: UUID-shaped as Slack's are, derived from a seed and a count
    (not random), so that a run is the same every time."""

    def __init__(self, seed: str) -> None:
        self._seed = seed
        self._count = itertools.count(1)
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            n = next(self._count)
        digest = hashlib.sha256(f"{self._seed}:{n}".encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))


def api_routes(dispatcher: Dispatcher, request_ids: RequestIds) -> list[Route]:
    """Every answer, an error too, carries its `x-slack-req-id` (the id Slack support asks
    for, and what the worker logs with a failure)."""

    async def call_method(request: Request) -> Response:
        body = await request.body()
        request_id = {"x-slack-req-id": request_ids()}
        try:
            parsed = parse_request(
                body,
                request.headers.get("content-type", ""),
                dict(request.query_params),
                request.headers.get("authorization"),
            )
        except SlackError as error:
            return JSONResponse(error.body(), headers=request_id)
        reply = dispatcher.handle(
            request.path_params["method"], parsed, base_url=str(request.base_url)
        )
        headers = {**reply.headers, **request_id}
        return JSONResponse(reply.body, status_code=reply.status, headers=headers)

    return [Route("/api/{method}", call_method, methods=["GET", "POST"])]
