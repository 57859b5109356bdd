"""Sandbox Slack: auth.test, users.info and users.lookupByEmail (who is who)."""

from __future__ import annotations

from typing import Any

from worker.sandbox.slack.errors import SlackError
from worker.sandbox.slack.methods.call import Call


def auth_test(call: Call) -> dict[str, Any]:
    ws = call.directory.workspace
    user = call.directory.users[call.caller.user_id]
    body: dict[str, Any] = {
        "url": f"https://{ws.slack_team_domain}.slack.com/",
        "team": ws.slack_team_domain.title(),
        "user": user.handle,
        "team_id": ws.slack_team_id,
        "user_id": user.id,
    }
    if call.caller.is_bot:
        body["bot_id"] = ws.slack_bot_id
    body["is_enterprise_install"] = False
    return body


def info(call: Call) -> dict[str, Any]:
    user = call.directory.users.get(call.params.required("user"))
    if user is None:
        raise SlackError("user_not_found")
    # Emails are only shown to tokens holding users:read.email.
    with_email = "users:read.email" in call.scopes
    with_locale = call.params.flag("include_locale")
    body = call.directory.user_json(
        user, call.now_s, with_email=with_email, with_locale=with_locale
    )
    return {"user": body}


def lookup_by_email(call: Call) -> dict[str, Any]:
    user = call.directory.by_email(call.params.required("email"))
    if user is None:
        raise SlackError("users_not_found")
    return {"user": call.directory.user_json(user, call.now_s, with_email=True)}
