"""Gateway to Slack: slack-sdk's WebClient with its own retry handlers, errors made plain."""

from __future__ import annotations

import http.client
import logging
import re
import socket
import time
import urllib.error
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from worker.config import Settings
from worker.errors import ServiceError
from worker.messages import SlackMessage, escape
from worker.pacing import Pacer, may_send
from worker.snapshot import Person

log = logging.getLogger("worker.slack")

METADATA_EVENT = "incident_worker_action"
# Methods whose repetition could double a message: their dropped connections are not
# retried blindly; the outbox reconciles them by the action key in the message metadata.
_NOT_REPEATABLE = ("chat.postMessage",)
_MAX_INLINE_WAIT_S = 10
POST_BURST = 4.0
# Slack's rate-limit tiers (calls per minute, published minimums) of the methods the worker
# calls; Slack counts each method apart, and so does the worker's own pace, so that a burst
# of incidents (a hundred parent messages updated with their timeline links) never meets a
# 429. chat.postMessage
# has its own per-channel pace; auth.test and chat.getPermalink have special, generous limits.
METHOD_TIERS = {
    "chat.update": 3,
    "conversations.info": 3,
    "conversations.join": 3,
    "conversations.history": 3,
    "conversations.replies": 3,
    "users.lookupByEmail": 3,
    "users.info": 4,
}
TIER_PER_MINUTE = {2: 20.0, 3: 50.0, 4: 100.0}
TIER_BURST = 10.0


class _Announced(RetryHandler):
    """Each retry is logged once (with Slack's request id when it sends one) and counted."""

    on_retry: Callable[[], None] | None = None

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        method = request.url.rstrip("/").rsplit("/", 1)[-1]
        cause = f"HTTP {response.status_code}" if response is not None else type(error).__name__
        ids = (response.headers.get("x-slack-req-id") if response is not None else None) or ["-"]
        log.warning("slack: retrying %s after %s (request id %s)", method, cause, ids[0])
        if self.on_retry is not None:
            self.on_retry()
        super().prepare_for_next_attempt(
            state=state, request=request, response=response, error=error
        )


class _NeverRepeatPosts(RetryHandler):
    """A call that may already have posted is never repeated in place."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if request.url.rstrip("/").endswith(_NOT_REPEATABLE):
            return False
        return super()._can_retry(state=state, request=request, response=response, error=error)


class _SafeConnectionRetry(_Announced, _NeverRepeatPosts, ConnectionErrorRetryHandler):
    """Retry dropped connections, except for calls that may already have posted."""


class _SafeServerErrorRetry(_Announced, _NeverRepeatPosts, ServerErrorRetryHandler):
    """Retry 500 and 503 in place, except for calls that may already have posted."""


class _BoundedRateLimitRetry(_Announced, RateLimitErrorRetryHandler):
    """Wait out short 429s in place; a long Retry-After goes back to the outbox instead."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        value = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), ["1"])
        try:
            return int(value[0] if isinstance(value, list) else value) <= _MAX_INLINE_WAIT_S
        except ValueError:
            return False


def build_client(
    settings: Settings, token: str | None = None, on_retry: Callable[[], None] | None = None
) -> WebClient:
    handlers: list[_Announced] = [
        _SafeConnectionRetry(max_retry_count=2),
        _SafeServerErrorRetry(max_retry_count=2),
        _BoundedRateLimitRetry(max_retry_count=3),
    ]
    for handler in handlers:
        handler.on_retry = on_retry
    return WebClient(
        token=token if token is not None else settings.slack_bot_token.reveal(),
        base_url=settings.slack_base_url,
        timeout=int(settings.slack_timeout_s),
        logger=logging.getLogger("worker.slack_sdk"),
        # The handlers share one attempt counter: at most 3 retries in all for a call.
        retry_handlers=list(handlers),
    )


_UNKNOWN_OUTCOME = (
    TimeoutError,
    socket.timeout,
    ConnectionError,
    http.client.HTTPException,
    urllib.error.URLError,
)


def as_service_error(method: str, exc: BaseException) -> ServiceError:
    """A slack-sdk failure as a ServiceError. Only a post can have taken effect unseen in a
    way that matters (a repeat would double it): a failed read or update is simply retried,
    with no reconciliation first."""
    may_have_posted = method in _NOT_REPEATABLE
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        code = str(exc.response.get("error", "") or f"http_{status}")
        headers = {k.lower(): v for k, v in (exc.response.headers or {}).items()}
        retry_after = headers.get("retry-after")
        transient = status == 429 or status >= 500 or code in ("ratelimited", "internal_error")
        return ServiceError(
            "slack",
            method,
            _explain(code, exc.response.get("needed")),
            code=code,
            status=status,
            # What Slack support asks for; every Slack answer carries it.
            request_id=_header_text(headers.get("x-slack-req-id")),
            retryable=transient,
            retry_after_s=float(retry_after) if retry_after else None,
            outcome_unknown=status >= 500 and may_have_posted,
        )
    return ServiceError(
        "slack",
        method,
        f"{type(exc).__name__}: {exc}",
        code="connection",
        retryable=True,
        outcome_unknown=may_have_posted,
    )


@contextmanager
def _translated(method: str) -> Iterator[None]:
    """slack-sdk's and the network's exceptions, as the worker's ServiceError."""
    try:
        yield
    except SlackApiError as exc:
        raise as_service_error(method, exc) from exc
    except _UNKNOWN_OUTCOME as exc:
        raise as_service_error(method, exc) from exc
    except SlackClientError as exc:
        raise ServiceError("slack", method, str(exc), code="client_error") from exc


_HINTS = {
    "channel_not_found": "check SLACK_CHANNEL_ID, and invite the app if the channel is private",
    "not_in_channel": "invite the app to the channel (/invite @app) or give it channels:join",
    "is_archived": "the channel is archived; unarchive it or point SLACK_CHANNEL_ID elsewhere",
    "invalid_auth": "SLACK_BOT_TOKEN is not valid; copy the Bot User OAuth Token again",
    "not_authed": "SLACK_BOT_TOKEN is missing",
    "missing_scope": "add the missing bot scope to the Slack app and reinstall it",
    "account_inactive": "the app was uninstalled or the token revoked; reinstall the app",
    "token_revoked": "the token was revoked; reinstall the app",
}


# apps.connections.open's answers when the app-level token is wrong or Socket Mode is off.
_APP_TOKEN_REFUSED = frozenset(
    {"invalid_auth", "not_authed", "not_allowed_token_type", "token_revoked", "missing_scope"}
)


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _explain(code: str, needed: object = None) -> str:
    hint = _HINTS.get(code)
    if code == "missing_scope" and isinstance(needed, str) and needed:
        # Slack names the scope the call needed (`needed`) beside the token's (`provided`).
        hint = f"the app lacks {needed}; {hint}"
    return f"{code}: {hint}" if hint else code


def _header_text(value: object) -> str:
    """A header as slack-sdk hands it over: a string, or a list of the values sent."""
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


# A message's ts: seconds, a dot, six digits.
_TS = re.compile(r"\d{10}\.\d{6}")
# A Slack user id (U…, or W… on Enterprise Grid).
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")


@dataclass(frozen=True)
class SlackUser:
    """A Slack user as users.info shows them: `email` only with users:read.email."""

    id: str
    team_id: str = ""
    name: str = ""
    email: str | None = None
    is_bot: bool = False

    @classmethod
    def from_api(cls, user: Mapping[str, Any], user_id: str) -> SlackUser:
        profile = user.get("profile") or {}
        names = (profile.get("real_name"), user.get("real_name"), profile.get("display_name"))
        name = next((str(n) for n in names if n), str(user.get("name") or ""))
        email = profile.get("email")
        return cls(
            id=str(user.get("id") or user_id),
            team_id=str(user.get("team_id") or ""),
            name=name,
            email=str(email) if email else None,
            is_bot=user.get("is_bot") is True,
        )


@dataclass(frozen=True)
class SlackIdentity:
    user_id: str
    bot_id: str
    team: str
    url: str
    # The workspace's id (T…): people of another one (Slack Connect) are guests.
    team_id: str = ""
    # The token's scopes, from the X-OAuth-Scopes header Slack sends with every answer
    # (None when the header is missing).
    scopes: frozenset[str] | None = None
    # Installed on an Enterprise Grid organisation: `url` is the organisation's, not the
    # workspace's a channel lives in.
    enterprise_install: bool = False

    def message_link(self, channel: str, ts: str) -> str | None:
        """The permalink of a top-level message, as chat.getPermalink gives it
        ('https://x.slack.com/archives/C1/p1712345678123456'): the workspace URL, the channel
        and the ts without its dot. None when it cannot be built (no workspace URL)."""
        if not self.url or self.enterprise_install or not _TS.fullmatch(ts):
            return None
        return f"{self.url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"


# One Slack Web API call: its method, HTTP status (None: no answer) and Slack's error code
# (None: ok).
OnResponse = Callable[[str, int | None, str | None], None]


@dataclass(frozen=True)
class SlackPacing:
    """The worker's own pace under Slack's rate limits: one for posts, one per paced method."""

    posts: Pacer
    methods: Mapping[str, Pacer]

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> SlackPacing:
        """The usual pacing; a test passes its own `sleep` to see the waits (or skip them)."""
        return cls(
            # chat.postMessage: about one message per second per channel, short bursts allowed.
            posts=Pacer(settings.slack_posts_per_s, burst=POST_BURST, clock=clock, sleep=sleep),
            methods={
                method: Pacer(
                    TIER_PER_MINUTE[tier] / 60.0, burst=TIER_BURST, clock=clock, sleep=sleep
                )
                for method, tier in METHOD_TIERS.items()
            },
        )


class SlackGateway:
    """Every Slack call the worker makes."""

    def __init__(
        self,
        client: WebClient,
        settings: Settings,
        *,
        on_response: OnResponse | None = None,
        pacing: SlackPacing | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        # Hears every call's outcome (the runtime counts them for /metrics).
        self.on_response = on_response
        self._slack_ids: dict[str, str | None] = {}
        # Slack users by id: (name, email), as users.info said (notes in the timeline).
        self._people: dict[str, tuple[str, str | None]] = {}
        # Who the token is, from the last auth.test (the runtime asks it when it starts).
        self.identity: SlackIdentity | None = None
        self.requests = 0
        self.pacing = pacing if pacing is not None else SlackPacing.for_settings(settings)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        on_response: OnResponse | None = None,
        on_retry: Callable[[], None] | None = None,
        pacing: SlackPacing | None = None,
    ) -> SlackGateway:
        """The gateway to `SLACK_BASE_URL`; `on_response` hears every call's outcome,
        `on_retry` each call repeated in place; `pacing` replaces the usual pace."""
        client = build_client(settings, on_retry=on_retry)
        return cls(client, settings, on_response=on_response, pacing=pacing)

    @contextmanager
    def _counted(self, method: str) -> Iterator[None]:
        """Pace the call to its method's tier, report it (and its failure) to `on_response`,
        translated to ServiceError."""
        pace = self.pacing.methods.get(method) if self.settings.slack_tier_pacing else None
        if pace is not None:
            pace.wait()
        may_send()  # only while the replica may act (a delivery lane's lease)
        self.requests += 1
        try:
            with _translated(method):
                yield
        except ServiceError as exc:
            if self.on_response is not None:
                self.on_response(method, exc.status, exc.code)
            raise
        if self.on_response is not None:
            self.on_response(method, 200, None)

    def call(self, method: str, fn: Callable[[], Any]) -> dict[str, Any]:
        with self._counted(method):
            response = fn()
        data = response.data
        return data if isinstance(data, dict) else {}

    def auth(self) -> SlackIdentity:
        with self._counted("auth.test"):
            response = self.client.auth_test()
        data = response.data if isinstance(response.data, dict) else {}
        header = {k.lower(): v for k, v in (response.headers or {}).items()}.get("x-oauth-scopes")
        scopes = None
        if isinstance(header, str):
            scopes = frozenset(s.strip() for s in header.split(",") if s.strip())
        self.identity = SlackIdentity(
            user_id=str(data.get("user_id", "")),
            bot_id=str(data.get("bot_id", "")),
            team=str(data.get("team", "")),
            url=str(data.get("url", "")),
            team_id=str(data.get("team_id", "")),
            scopes=scopes,
            enterprise_install=data.get("is_enterprise_install") is True,
        )
        return self.identity

    def socket_url(self, app_token: str) -> str:
        """A Socket Mode URL, as the SDK asks it before connecting (`check`: does the app-level
        token work?). Nothing connects to it; it expires by itself."""
        try:
            data = self.call(
                "apps.connections.open",
                lambda: self.client.apps_connections_open(app_token=app_token),
            )
        except ServiceError as exc:
            if exc.code in _APP_TOKEN_REFUSED:
                raise ServiceError(
                    "slack",
                    "apps.connections.open",
                    f"{exc.code}: SLACK_APP_TOKEN is not a working app-level token; generate "
                    "one with the connections:write scope (Basic Information → App-Level "
                    "Tokens) and turn Socket Mode on",
                    code=exc.code,
                ) from exc
            raise
        return str(data.get("url", ""))

    def join(self, channel: str) -> None:
        self.call("conversations.join", lambda: self.client.conversations_join(channel=channel))

    def channel_info(self, channel: str) -> dict[str, Any]:
        data = self.call(
            "conversations.info", lambda: self.client.conversations_info(channel=channel)
        )
        info = data.get("channel")
        return info if isinstance(info, dict) else {}

    def post(
        self,
        channel: str,
        message: SlackMessage,
        *,
        key: str,
        thread_ts: str | None = None,
        broadcast: bool = False,
        facts: dict[str, Any] | None = None,
    ) -> str:
        """Post a message carrying its action key in metadata; returns its ts. `facts` ride
        along in the metadata too (what the message means for the reminders, when it
        happened), so that a worker that lost its state can read its past back."""
        payload: dict[str, Any] = {**(facts or {}), "key": key}
        kwargs: dict[str, Any] = {
            "channel": channel,
            "text": message.text,
            # A plain message has no blocks: none are sent (an update then removes them).
            "blocks": message.blocks or None,
            "unfurl_links": False,
            "unfurl_media": False,
            "metadata": {"event_type": METADATA_EVENT, "event_payload": payload},
        }
        if thread_ts is not None:
            kwargs["thread_ts"] = thread_ts
            if broadcast:
                kwargs["reply_broadcast"] = True
        self.pacing.posts.wait()  # `call` then checks the lease, after this wait
        data = self.call("chat.postMessage", lambda: self.client.chat_postMessage(**kwargs))
        return str(data["ts"])

    def pace_wait_s(self, kind: str) -> float:
        """How long the call an outbox action of `kind` makes first would wait for the
        worker's pace now: a post for the message pace, a parent update for chat.update's
        (the delivery lane sends first what may go at once)."""
        if kind == "update_parent":
            tiered = self.settings.slack_tier_pacing
            pace = self.pacing.methods.get("chat.update") if tiered else None
            return pace.delay_s() if pace is not None else 0.0
        return self.pacing.posts.delay_s()

    def update(self, channel: str, ts: str, message: SlackMessage) -> None:
        self.call(
            "chat.update",
            lambda: self.client.chat_update(
                channel=channel, ts=ts, text=message.text, blocks=message.blocks or None
            ),
        )

    def thread_link(self, channel: str, ts: str) -> str:
        """The permalink of the thread whose parent message is `ts`, with no request: built
        from auth.test's workspace URL (auth.test is asked once if it was not yet).
        chat.getPermalink is asked only when auth.test gives no URL to build it from."""
        identity = self.identity if self.identity is not None else self.auth()
        return identity.message_link(channel, ts) or self.permalink(channel, ts)

    def permalink(self, channel: str, ts: str) -> str:
        data = self.call(
            "chat.getPermalink",
            lambda: self.client.chat_getPermalink(channel=channel, message_ts=ts),
        )
        return str(data["permalink"])

    def find_posted(
        self, channel: str, key: str, *, thread_ts: str | None = None, oldest_s: float = 0.0
    ) -> str | None:
        """The ts of a message we posted with this action key, if it exists (reconciliation)."""
        method = "conversations.replies" if thread_ts is not None else "conversations.history"
        # The first page is fetched by the call itself, the next ones while iterating: both
        # inside the translation, so a failure is a ServiceError the outbox retries.
        with self._counted(method):
            if thread_ts is not None:
                pages = self.client.conversations_replies(
                    channel=channel, ts=thread_ts, include_all_metadata=True, limit=200
                )
            else:
                pages = self.client.conversations_history(
                    channel=channel,
                    oldest=f"{max(0.0, oldest_s):.6f}",
                    include_all_metadata=True,
                    limit=200,
                )
            for page in pages:
                for message in page.get("messages", []):
                    metadata = message.get("metadata") or {}
                    if (metadata.get("event_payload") or {}).get("key") == key:
                        return str(message["ts"])
        return None

    def thread_history(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Every message of a thread, the parent first, with their metadata."""
        messages: list[dict[str, Any]] = []
        with self._counted("conversations.replies"):
            pages = self.client.conversations_replies(
                channel=channel, ts=thread_ts, include_all_metadata=True, limit=200
            )
            for page in pages:
                messages.extend(m for m in page.get("messages", []) if isinstance(m, dict))
        return messages

    def reply_link(self, channel: str, ts: str, thread_ts: str) -> str:
        """The permalink of a reply in a thread, as chat.getPermalink gives it (built without
        a request when the workspace URL is known)."""
        identity = self.identity if self.identity is not None else self.auth()
        top = identity.message_link(channel, ts)
        if top is None:
            return self.permalink(channel, ts)
        return f"{top}?thread_ts={thread_ts}&cid={channel}" if thread_ts != ts else top

    def user_info(self, user_id: str) -> tuple[str, str | None] | None:
        """A Slack user's name (their full name, else display name, else handle: a timeline is
        a record) and email (with the users:read.email scope), cached; None when Slack knows
        no such user."""
        if user_id in self._people:
            return self._people[user_id]
        try:
            data = self.call("users.info", lambda: self.client.users_info(user=user_id))
        except ServiceError as exc:
            if exc.code != "user_not_found":
                raise
            return None
        user = _object(data.get("user"))
        profile = _object(user.get("profile"))
        name = next(
            (
                str(value)
                for value in (
                    profile.get("real_name"),
                    profile.get("display_name"),
                    user.get("real_name"),
                    user.get("name"),
                )
                if isinstance(value, str) and value.strip()
            ),
            user_id,
        )
        email = profile.get("email")
        found = (name, email if isinstance(email, str) and email else None)
        self._people[user_id] = found
        return found

    def thread_of(self, channel: str, ts: str) -> str | None:
        """The ts of the thread a message belongs to (its parent's; a top-level message's own),
        None when Slack has no such message: conversations.replies names the parent first."""
        try:
            data = self.call(
                "conversations.replies",
                lambda: self.client.conversations_replies(channel=channel, ts=ts, limit=1),
            )
        except ServiceError as exc:
            if exc.code in ("thread_not_found", "message_not_found"):
                return None
            raise
        messages = data.get("messages") or []
        first = messages[0] if messages and isinstance(messages[0], dict) else {}
        parent = first.get("thread_ts") or first.get("ts")
        return str(parent) if parent else None

    def mention(self, person: Person) -> str:
        """<@U…> for someone Slack knows by the same email; otherwise their name, escaped.
        Someone who acted from Slack is mentioned by their Slack id.

        A passing failure of the lookup is raised, so that the message waits and is sent
        with the mention it should have (its action is retried); only a lasting one (say,
        a missing users:read.email scope) falls back to the name."""
        fallback = escape(person.name or "someone")
        if person.slack_id and _USER_ID.fullmatch(person.slack_id):
            return f"<@{person.slack_id}>"
        if not person.email:
            return fallback
        email = person.email.lower()
        if email not in self._slack_ids:
            try:
                self._slack_ids[email] = self._lookup(email)
            except ServiceError as exc:
                if exc.retryable:
                    raise
                # Not cached: a later message may still get the proper mention.
                log.warning("slack: could not look up a user by email: %s", exc)
                return fallback
        slack_id = self._slack_ids[email]
        return f"<@{slack_id}>" if slack_id else fallback

    def _lookup(self, email: str) -> str | None:
        try:
            data = self.call(
                "users.lookupByEmail", lambda: self.client.users_lookupByEmail(email=email)
            )
        except ServiceError as exc:
            if exc.code == "users_not_found":
                return None
            raise
        user = data.get("user") or {}
        return str(user["id"]) if user.get("id") else None

    # --- what the buttons' handlers ask of Slack ------------------------------------------

    def slack_user(self, user_id: str) -> SlackUser:
        """Who a Slack user is (users.info): their team, and their email where the token may
        see it (users:read.email)."""
        data = self.call("users.info", lambda: self.client.users_info(user=user_id))
        return SlackUser.from_api(data.get("user") or {}, user_id)

    def ephemeral(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None
    ) -> None:
        """A message only `user` sees (chat.postEphemeral): the answer to a click the worker
        cannot act on. Plain text, escaped by the caller; in the thread when given."""
        kwargs: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if thread_ts is not None:
            kwargs["thread_ts"] = thread_ts
        self.call("chat.postEphemeral", lambda: self.client.chat_postEphemeral(**kwargs))

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> str:
        """Open a modal for the person whose click gave `trigger_id` (valid for 3 s, once);
        returns the view's id."""
        data = self.call(
            "views.open", lambda: self.client.views_open(trigger_id=trigger_id, view=view)
        )
        opened = data.get("view") or {}
        return str(opened.get("id", ""))
