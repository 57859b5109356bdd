"""Sandbox Slack: the HTTP face of the Web API, `GET|POST /api/<method>`, always JSON."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from worker.sandbox.slack.dispatch import Dispatcher
from worker.sandbox.slack.errors import SlackError
from worker.sandbox.slack.params import parse_request


def api_routes(dispatcher: Dispatcher) -> list[Route]:
    async def call_method(request: Request) -> Response:
        body = await request.body()
        try:
            parsed = parse_request(
                body,
                request.headers.get("content-type", ""),
                dict(request.query_params),
                request.headers.get("authorization"),
            )
        except SlackError as error:
            return JSONResponse(error.body())
        reply = dispatcher.handle(request.path_params["method"], parsed)
        return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)

    return [Route("/api/{method}", call_method, methods=["GET", "POST"])]
