"""Sandbox Slack: Socket Mode's WebSocket, `GET /link/?ticket=…` (from apps.connections.open).

Frames are JSON text: the server sends `hello`, envelopes and `disconnect`; the app sends
acks. WebSocket pings are answered with pongs echoing their payload by the WebSocket layer
itself (uvicorn's websockets implementation), which is what slack_sdk's builtin client
checks (reference/slack/inbound.md §1).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from worker.sandbox.slack.delivery import Inbound

_NUMBERS = itertools.count(1)
# Policy violation: what the sandbox closes a socket with when its ticket is not valid
# (real Slack's answer to a stale ticket is UNSOURCED).
_BAD_TICKET = 1008


class SocketConnection:
    """One accepted WebSocket; `send`/`close` may be called from any thread."""

    def __init__(self, websocket: WebSocket, loop: asyncio.AbstractEventLoop) -> None:
        self.number = next(_NUMBERS)
        self._websocket = websocket
        self._loop = loop
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue()

    def send(self, text: str) -> None:
        self._loop.call_soon_threadsafe(self._outbox.put_nowait, text)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: so is the socket
            self._loop.call_soon_threadsafe(self._outbox.put_nowait, None)

    async def write(self) -> None:
        """Frames leave in the order they were sent, one writer per socket."""
        while True:
            text = await self._outbox.get()
            if text is None:
                with contextlib.suppress(Exception):
                    await self._websocket.close()
                return
            try:
                await self._websocket.send_text(text)
            except Exception:  # noqa: BLE001 - the app went away; its reader ends too
                return


def socket_routes(inbound: Inbound, redeem: Callable[[str], bool]) -> list[WebSocketRoute]:
    async def link(websocket: WebSocket) -> None:
        if not redeem(websocket.query_params.get("ticket", "")):
            await websocket.close(code=_BAD_TICKET)
            return
        await websocket.accept()
        connection = SocketConnection(websocket, asyncio.get_running_loop())
        writer = asyncio.create_task(connection.write())
        inbound.attach(connection)
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None and message.get("bytes") is not None:
                    text = message["bytes"].decode("utf-8", "replace")
                if text:
                    inbound.receive(text)
        except WebSocketDisconnect:
            pass
        finally:
            inbound.detach(connection)
            connection.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 1.0)

    return [WebSocketRoute("/link/", link), WebSocketRoute("/link", link)]
