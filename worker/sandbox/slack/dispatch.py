"""Sandbox Slack: one API call from parsed request to answer (auth, rate limit, scope, handler)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from worker.sandbox.slack.directory import Directory, Identity
from worker.sandbox.slack.errors import COMMON_ERRORS, SlackError, missing_scope
from worker.sandbox.slack.events import Event
from worker.sandbox.slack.limits import RateLimiter
from worker.sandbox.slack.methods import METHODS, Call, Method
from worker.sandbox.slack.params import ParsedRequest
from worker.sandbox.slack.render import Renderer
from worker.sandbox.slack.state import SlackState


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class UndeclaredError(RuntimeError):
    """A handler raised an error code its method does not declare: an emulator bug."""


@dataclass
class Dispatcher:
    state: SlackState
    directory: Directory
    renderer: Renderer
    limiter: RateLimiter
    lock: threading.RLock
    clock: Callable[[], float]
    methods: Mapping[str, Method] = field(default_factory=lambda: METHODS)
    # Receives the events of each successful call (the inbound delivery hub).
    publish: Callable[[list[Event]], None] | None = None

    def handle(
        self, name: str, request: ParsedRequest, base_url: str = "http://127.0.0.1/"
    ) -> Reply:
        """Every `ok: false` a method answers is one it declares (or a common error)."""
        method = self.methods.get(name)
        if method is None:
            return Reply(200, {"ok": False, "error": "unknown_method", "req_method": name})
        try:
            caller = self._authenticate(request.token)
        except SlackError as error:
            return Reply(200, error.body())
        if caller.is_app != method.app_token:
            return Reply(200, {"ok": False, "error": "not_allowed_token_type"})
        wait_s = self._wait(method, request, self._allowance_of(caller))
        if wait_s:
            body = {"ok": False, "error": "ratelimited"}
            return Reply(429, body, {"Retry-After": str(wait_s)})
        headers = self._scope_headers(method, caller)
        try:
            body = self._run(method, caller, request, base_url)
        except SlackError as error:
            if error.code not in method.errors and error.code not in COMMON_ERRORS:
                raise UndeclaredError(f"{name} raised undeclared error {error.code}") from error
            return Reply(200, error.body(), headers)
        return Reply(200, {"ok": True, **body}, headers)

    def _authenticate(self, token: str | None) -> Identity:
        if not token:
            raise SlackError("not_authed")
        caller = self.directory.identify(token)
        if caller is None:
            raise SlackError("invalid_auth")
        return caller

    def _allowance_of(self, caller: Identity) -> str:
        """Whose allowance a call uses: Slack counts an app's calls (all its tokens); a
        person's token stands for that person's own client."""
        if caller.is_bot or caller.is_app:
            return f"app {self.directory.workspace.slack_app_id}"
        return f"user {caller.user_id}"

    def _wait(self, method: Method, request: ParsedRequest, who: str) -> int:
        if method.name == "chat.postMessage":
            with self.lock:
                channel_id = self.state.channel_id_for(request.params.text("channel"))
            return self.limiter.wait_for_post(channel_id, who)
        return self.limiter.wait_for_tier(method.tier, method.name, who)

    def _scope_headers(self, method: Method, caller: Identity) -> dict[str, str]:
        with self.lock:
            scopes = self.state.scopes_of(caller)
        return {
            "x-oauth-scopes": ",".join(sorted(scopes)),
            "x-accepted-oauth-scopes": ",".join(method.accepted_scopes(caller)),
        }

    def _run(
        self, method: Method, caller: Identity, request: ParsedRequest, base_url: str
    ) -> dict[str, Any]:
        with self.lock:
            scopes = self.state.scopes_of(caller)
            accepted = method.accepted_scopes(caller)
            if accepted and not scopes.intersection(accepted):
                raise missing_scope(accepted[:1], scopes)
            call = Call(
                state=self.state,
                directory=self.directory,
                renderer=self.renderer,
                caller=caller,
                params=request.params,
                now_s=self.clock(),
                method=method,
                base_url=base_url,
            )
            body = method.handler(call)
            if call.events and self.publish is not None:
                # Under the lock, so that events leave in the order their calls were made.
                self.publish(call.events)
            return body
