"""The slack-bolt app: one for both transports, with the filters every handler relies on.

Before any handler runs, the app keeps to what is the worker's business:
- events only from the incidents channel(s) (a reaction in #random is none of ours);
- nothing done for people of another workspace (Slack Connect): a click, a shortcut or a
  pin by a guest gets a polite ephemeral answer and changes nothing;
- the worker's own messages and reactions never come back as work (Bolt's self-event filter).
Whatever no handler takes is acknowledged all the same: an unacknowledged Socket Mode
envelope would be sent again and again.

The handlers of each feature register themselves (`service.FEATURES`), each as
`register(app, intake)`. Their rule: record the work (`Intake.record`) and be quick: Slack
hears the acknowledgement only once the handler returns (`process_before_response`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient

from worker.config import Settings
from worker.errors import ServiceError
from worker.inbound.intake import Intake

log = logging.getLogger("worker.inbound")

Registrar = Callable[[App, Intake], None]

# Interactions a person starts; a guest (Slack Connect) gets this answer and nothing else.
GUEST_REFUSAL = (
    "Sorry, only members of this workspace can do that here. Ask someone from the team that "
    "runs this incident to do it for you."
)
_INTERACTIONS = frozenset(
    {"block_actions", "view_submission", "shortcut", "message_action", "view_closed"}
)
# Events whose actor does something to a message (a guest's is refused); messages themselves
# are the conversation, whoever writes them.
_ACTS = frozenset({"reaction_added", "reaction_removed", "pin_added", "pin_removed"})


def build_app(
    settings: Settings,
    intake: Intake,
    *,
    registrars: Sequence[Registrar],
    client: WebClient | None = None,
) -> App:
    """The app for `settings`' workspace. The bot token authorizes (auth.test, once, at the
    first request); the signing secret verifies HTTP requests (Socket Mode needs none)."""
    token = settings.slack_bot_token.reveal()
    app = App(
        client=client or WebClient(token=token, base_url=settings.slack_base_url),
        signing_secret=settings.slack_signing_secret.reveal() or "socket-mode-only",
        token_verification_enabled=False,
        # Answer Slack only once the handler is done: Bolt acknowledges events by itself,
        # and an acknowledgement sent before the work is recorded would lose the work if
        # the process died in between (Slack does not send an acknowledged event again).
        # Handlers only record work, so they finish well within Slack's 3 seconds.
        process_before_response=True,
        logger=logging.getLogger("worker.inbound.bolt"),
    )
    # A refused request is the transport's one warning (transport.events_route): Bolt's own
    # INFO line would be a second one, quoting the unverified body the request carried.
    logging.getLogger("slack_bolt.RequestVerification").setLevel(logging.WARNING)
    app.middleware(_keep_to_our_business(intake))
    for register in registrars:
        register(app, intake)
    _acknowledge_the_rest(app)
    return app


def _keep_to_our_business(intake: Intake) -> Callable[..., BoltResponse | None]:
    def middleware(req: BoltRequest, resp: BoltResponse, next: Callable[[], None]) -> Any:
        body = req.body
        kind = body.get("type")
        if kind == "event_callback":
            event = body.get("event") or {}
            if event_channel(event) not in intake.channels:
                return BoltResponse(status=200, body="")
            actor = event.get("user")
            acts = event.get("type") in _ACTS and isinstance(actor, str) and actor
            if acts and isinstance(actor, str) and intake.is_guest(actor, event.get("user_team")):
                _tell_guest(intake, event_channel(event), actor, _thread_of(event))
                return BoltResponse(status=200, body="")
        elif kind in _INTERACTIONS or "command" in body:
            user_id, team_id = interaction_user(body)
            if user_id and intake.is_guest(user_id, team_id):
                channel = interaction_channel(body)
                if channel:
                    _tell_guest(intake, channel, user_id, None)
                if "command" in body:
                    return BoltResponse(status=200, body=GUEST_REFUSAL)
                return BoltResponse(status=200, body="")
        next()
        return None

    return middleware


def _acknowledge_the_rest(app: App) -> None:
    anything = re.compile(".*")

    def ack_only(ack: Callable[..., None]) -> None:
        ack()

    app.event(anything)(ack_only)
    app.action(anything)(ack_only)
    app.view(anything)(ack_only)
    app.shortcut(anything)(ack_only)
    app.options(anything)(ack_only)


def _tell_guest(intake: Intake, channel: str | None, user: str, thread_ts: str | None) -> None:
    if not channel:
        return
    try:
        intake.slack.call(
            "chat.postEphemeral",
            lambda: intake.slack.client.chat_postEphemeral(
                channel=channel, user=user, text=GUEST_REFUSAL, thread_ts=thread_ts
            ),
        )
    except ServiceError as exc:
        log.info("could not tell a Slack Connect guest why nothing happened: %s", exc)
    log.info("refused a request by %s, who belongs to another workspace (Slack Connect)", user)


# -- reading Slack payloads (shared by the handlers) ------------------------------------------


def event_channel(event: dict[str, Any]) -> str | None:
    """The channel an event happened in: its own, or its item's (reactions, pins)."""
    channel = event.get("channel") or (event.get("item") or {}).get("channel")
    if isinstance(channel, dict):  # some events carry the channel as an object
        channel = channel.get("id")
    return channel if isinstance(channel, str) else None


def _thread_of(event: dict[str, Any]) -> str | None:
    item = event.get("item") or {}
    message = item.get("message") or {}
    thread = message.get("thread_ts") or event.get("thread_ts")
    return thread if isinstance(thread, str) else None


def interaction_user(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """Who clicked, submitted or ran a command, and their workspace as the payload says."""
    user = body.get("user")
    if isinstance(user, dict):
        return user.get("id"), user.get("team_id")
    if "command" in body:  # a slash command's form fields
        return body.get("user_id"), None
    return None, None


def interaction_channel(body: dict[str, Any]) -> str | None:
    channel = body.get("channel")
    if isinstance(channel, dict):
        return channel.get("id")
    container = body.get("container") or {}
    found = container.get("channel_id") or body.get("channel_id")
    return found if isinstance(found, str) else None
