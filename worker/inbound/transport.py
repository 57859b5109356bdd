"""How Slack reaches the app: Socket Mode, or HTTP requests to `/slack/events`.

- **Socket Mode** (`SLACK_APP_TOKEN`, an app-level `xapp-` token with `connections:write`):
  the worker dials out to Slack over a WebSocket, so no public URL is needed (a laptop, a
  worker dyno, behind a firewall). Slack's SDK reconnects by itself; each connection starts
  with a `hello`, on which the intake catches up on what happened while nobody listened.
- **HTTP** (`SLACK_SIGNING_SECRET`): Slack POSTs events, interactivity and slash commands to
  `https://<host>/slack/events` on `serve`; a request whose signature is wrong or older than
  five minutes is refused with 401 (Bolt's verification) and one log line.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.response import SocketModeResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from websocket import WebSocketConnectionClosedException

from worker.inbound.intake import Intake

log = logging.getLogger("worker.inbound")

EVENTS_PATH = "/slack/events"
# How often the first connection is tried again when Slack cannot be reached at the start.
CONNECT_RETRY_S = (1.0, 3.0, 10.0, 30.0)
# How long a stop waits for the Socket Mode client to wind down.
CLOSE_WAIT_S = 2.0


class SocketTransport:
    """The app over Socket Mode, connected from a thread of its own (a Slack that cannot be
    reached at the start does not hold the worker's loop up: it is tried again).

    The WebSocket is websocket-client's (Bolt's `websocket_client` adapter), not the SDK's
    built-in one: on the sandbox the built-in client now and then split a frame longer than
    its 1 KiB read buffer wrongly and dropped the envelope, a known weak spot of it
    (python-slack-sdk #1124, #1230)."""

    def __init__(self, app: App, app_token: str, intake: Intake) -> None:
        self._handler = SocketModeHandler(
            app, app_token=app_token, logger=logging.getLogger("worker.inbound.socket")
        )
        self._intake = intake
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._connect, name="slack-socket", daemon=True)
        self._handler.client.message_listeners.append(self._on_message)
        # Once stopping, a handler that finishes does not try to acknowledge on a connection
        # being closed (the SDK would log each failed send as an error): its envelope goes
        # unacknowledged and Slack sends it again, which changes nothing twice.
        send = self._handler.client.send_socket_mode_response

        def acknowledge(response: SocketModeResponse | dict[str, Any]) -> None:
            if self._stopping.is_set():
                log.debug("closing: an envelope is left for Slack to send again")
                return
            try:
                send(response)
            except WebSocketConnectionClosedException:
                # Slack refreshed the connection while the handler worked (`disconnect`):
                # the envelope comes again on the new one, and its work is recorded already.
                log.info("a connection closed before an envelope's ack: Slack sends it again")

        self._handler.client.send_socket_mode_response = acknowledge  # type: ignore[method-assign]

    def start(self) -> None:
        self._thread.start()

    def _connect(self) -> None:
        waits = iter(CONNECT_RETRY_S)
        while not self._stopping.is_set():
            try:
                self._handler.connect()  # type: ignore[no-untyped-call]
            except Exception as exc:  # noqa: BLE001 — any failure: said, and tried again
                wait_s = next(waits, CONNECT_RETRY_S[-1])
                log.warning(
                    "could not connect to Slack over Socket Mode (%s); trying again in %.0f s",
                    exc,
                    wait_s,
                )
                self._stopping.wait(wait_s)
                continue
            log.info("listening to Slack over Socket Mode")
            return

    def _on_message(
        self, client: BaseSocketModeClient, message: dict[str, Any], raw: str | None
    ) -> None:
        del client, raw
        if message.get("type") == "hello":
            self._intake.connected()

    def stop(self) -> None:
        self._stopping.set()
        # The client's close waits for its ping thread (up to a ping interval): the stop
        # waits for it only briefly. The socket is closed first, so Slack stops sending here
        # at once; the threads left behind end with the process.
        closing = threading.Thread(target=self._close, name="slack-socket-close", daemon=True)
        closing.start()
        closing.join(CLOSE_WAIT_S)

    def _close(self) -> None:
        try:
            self._handler.close()  # type: ignore[no-untyped-call]
        except Exception:
            log.debug("closing the Socket Mode connection", exc_info=True)


def events_route(app: App) -> Route:
    """`POST /slack/events`: Bolt verifies the signature, then dispatches. Dispatching waits
    for the handler's ack (at most Slack's 3 s), so it runs off the event loop: /healthz
    and other requests are answered meanwhile."""

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        bolt_request = to_bolt_request(request, body)
        bolt_response = await run_in_threadpool(app.dispatch, bolt_request)
        if bolt_response.status == 401:
            log.warning(
                "refused a request to %s: its signature is wrong or more than 5 minutes old "
                "(is SLACK_SIGNING_SECRET this app's signing secret, and the clock right?)",
                EVENTS_PATH,
            )
        return to_starlette_response(bolt_response)

    return Route(EVENTS_PATH, slack_events, methods=["POST"])
