"""Inbound Slack as one piece the command line starts and stops with the worker."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from slack_bolt import App
from starlette.routing import BaseRoute

from worker.config import Settings
from worker.inbound import buttons, notes
from worker.inbound.app import Registrar, build_app
from worker.inbound.intake import Desk, Intake
from worker.inbound.transport import SocketTransport, events_route
from worker.runtime import Runtime
from worker.slack import SlackGateway

log = logging.getLogger("worker.inbound")

# Every feature's handlers, in the order Bolt tries them (each `register(app, intake)`; here,
# not in app.py, because the features read Slack's payloads with app.py's helpers).
FEATURES: tuple[Registrar, ...] = (buttons.register, notes.register)


def _waker(runtime: Runtime) -> Callable[[], None]:
    """Wakes the runtime's lanes as they are when called (they exist once its loop runs)."""

    def wake() -> None:
        runtime.wake()

    return wake


class Inbound:
    """The app, its intake over every database of the process, and its transports: Socket
    Mode when an app-level token is set; the HTTP route whenever a signing secret is (served
    by `serve`, or `run --port`)."""

    def __init__(self, settings: Settings, intake: Intake, app: App) -> None:
        self.settings = settings
        self.intake = intake
        self.app = app
        self._socket: SocketTransport | None = None
        if settings.slack_app_token:
            self._socket = SocketTransport(app, settings.slack_app_token.reveal(), intake)

    @classmethod
    def build(
        cls,
        settings: Settings,
        runtimes: Sequence[Runtime],
        slack: SlackGateway,
        *,
        clock: Callable[[], datetime],
        registrars: Sequence[Registrar] = FEATURES,
    ) -> Inbound | None:
        """None when neither SLACK_APP_TOKEN nor SLACK_SIGNING_SECRET is set: the worker only
        speaks (`check` says how to turn listening on)."""
        if settings.inbound is None:
            return None
        desks = [Desk(r.settings, r.store, _waker(r)) for r in runtimes]
        intake = Intake(settings, desks, slack, clock=clock)
        app = build_app(settings, intake, registrars=registrars)
        return cls(settings, intake, app)

    @property
    def routes(self) -> list[BaseRoute]:
        """What the web server adds: `/slack/events`, when HTTP events are configured."""
        return [events_route(self.app)] if self.settings.slack_signing_secret else []

    def start(self) -> None:
        """Listen (after the runtimes started: who the bot is is known), then catch up on what
        happened while the worker was not listening."""
        if self._socket is not None:
            self._socket.start()  # its hello catches up
        else:
            self.intake.connected()
            log.info("listening to Slack on %s (HTTP)", "/slack/events")

    def stop(self) -> None:
        if self._socket is not None:
            self._socket.stop()
