"""Sandbox Slack: views.open, views.push and views.update (modals), and apps.connections.open."""

from __future__ import annotations

import secrets
from typing import Any

from worker.sandbox.slack.blocks import normalise_blocks, validate_blocks, with_text_defaults
from worker.sandbox.slack.errors import SlackError, schema_messages
from worker.sandbox.slack.methods.call import Call
from worker.sandbox.slack.views import (
    STACK_MAX,
    OpenView,
    find_view,
    new_hash,
    new_view_id,
    redeem_trigger,
    stack_of,
    view_json,
)

# A view payload over 250 kB is refused (the catalog's `view_too_large`).
VIEW_MAX_BYTES = 250_000
# How long an apps.connections.open URL may wait to be used (UNSOURCED: Slack says only
# that the URL is temporary and "changes regularly").
TICKET_TTL_S = 30.0


def _definition(call: Call) -> dict[str, Any]:
    parsed, view = call.params.structured("view")
    if not call.params.has("view"):
        raise schema_messages("invalid_arguments", ["[ERROR] missing required field: view"])
    if not parsed or not isinstance(view, dict):
        raise SlackError("invalid_arguments")
    if len(str(call.params.values.get("view"))) > VIEW_MAX_BYTES:
        raise SlackError("view_too_large")
    problems = []
    if view.get("type") != "modal":
        problems.append("[ERROR] must be 'modal' [json-pointer:/view/type]")
    if not isinstance(view.get("title"), dict):
        problems.append("[ERROR] missing required field: title [json-pointer:/view]")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        problems.append("[ERROR] missing required field: blocks [json-pointer:/view]")
    else:
        # (a modal takes up to 100 blocks, a message 50: the message limit applies here)
        problems += validate_blocks(blocks)
    if problems:
        raise schema_messages("invalid_arguments", problems)
    stored = {key: with_text_defaults(value) for key, value in view.items() if key != "blocks"}
    return {**stored, "blocks": normalise_blocks(blocks or [], f"view:{call.now_s}")}


def _external_id_free(call: Call, definition: dict[str, Any], own: str | None = None) -> None:
    external = definition.get("external_id")
    if not external:
        return
    for view in call.state.views.values():
        if view.id != own and view.definition.get("external_id") == external:
            raise SlackError("duplicate_external_id")


def open_view(call: Call) -> dict[str, Any]:
    definition = _definition(call)
    user = redeem_trigger(call.state, call.params.required("trigger_id"), call.now_s)
    _external_id_free(call, definition)
    view_id = new_view_id(call.state)
    for old in stack_of(call.state, user):
        # Opening a modal replaces whatever modal the person had open.
        call.state.views.pop(old.id, None)
    view = OpenView(view_id, user, definition, new_hash(call.now_s), root_view_id=view_id)
    call.state.views[view_id] = view
    return {"view": view_json(call.state, view)}


def push_view(call: Call) -> dict[str, Any]:
    definition = _definition(call)
    user = redeem_trigger(call.state, call.params.required("trigger_id"), call.now_s)
    stack = stack_of(call.state, user)
    if not stack:
        raise SlackError("not_found")
    if len(stack) >= STACK_MAX:
        raise SlackError("push_limit_reached")
    _external_id_free(call, definition)
    top = stack[-1]
    view_id = new_view_id(call.state)
    view = OpenView(
        view_id,
        user,
        definition,
        new_hash(call.now_s),
        root_view_id=top.root_view_id,
        previous_view_id=top.id,
    )
    call.state.views[view_id] = view
    return {"view": view_json(call.state, view)}


def update_view(call: Call) -> dict[str, Any]:
    definition = _definition(call)
    view_id, external_id = call.params.text("view_id"), call.params.text("external_id")
    if not view_id and not external_id:
        raise schema_messages(
            "invalid_arguments", ["[ERROR] either view_id or external_id is required"]
        )
    view = find_view(call.state, view_id, external_id)
    given_hash = call.params.text("hash")
    if given_hash and given_hash != view.hash:
        raise SlackError("hash_conflict")
    _external_id_free(call, definition, own=view.id)
    view.definition = definition
    view.hash = new_hash(call.now_s)
    return {"view": view_json(call.state, view)}


def open_connection(call: Call) -> dict[str, Any]:
    """A one-use WebSocket URL on this server (plain ws on a port other than 443, which the
    SDK's builtin client connects to without TLS: reference/slack/inbound.md §1)."""
    ticket = secrets.token_hex(16)
    call.state.tickets[ticket] = call.now_s + TICKET_TTL_S
    base = call.base_url.rstrip("/")
    ws_base = "ws://" + base.split("://", 1)[-1]
    app_id = call.state.workspace.slack_app_id
    return {"url": f"{ws_base}/link/?ticket={ticket}&app_id={app_id}"}
