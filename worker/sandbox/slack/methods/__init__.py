"""Sandbox Slack: the Web API methods the emulator answers, with their scopes, tiers and errors.

Scopes, tiers and error lists mirror reference/slack/slack-method-catalog (docs.slack.dev,
2026); tests/sandbox/test_slack_fidelity.py holds this table to that catalog. Only the
posting methods take a channel name (their catalog `channel` argument says "ID or name");
a private channel further needs the groups:* scope of the method's kind (`private_scope`).
"""

from __future__ import annotations

from worker.sandbox.slack.methods import chat_edit, chat_post, conversations, items, users, views
from worker.sandbox.slack.methods.call import Call, Handler, Method

_HISTORY = ("channels:history", "groups:history", "im:history", "mpim:history")
_READ = ("channels:read", "groups:read", "im:read", "mpim:read")
_CHAT = ("chat:write",)
_POST_ERRORS = (
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "no_text",
    "invalid_blocks",
    "invalid_blocks_format",
    "too_many_attachments",
    "markdown_text_conflict",
)
_METADATA_ERRORS = ("invalid_metadata_format", "invalid_metadata_schema")
_NOT_FOUND = ("channel_not_found",)
_TRIGGER_ERRORS = (
    "duplicate_external_id",
    "exchanged_trigger_id",
    "expired_trigger_id",
    "invalid_trigger_id",
    "view_too_large",
)


def _method(
    name: str,
    handler: Handler,
    tier: int | None,
    scopes: tuple[tuple[str, ...], tuple[str, ...]],
    errors: tuple[str, ...] = (),
    *,
    by_name: bool = False,
    private_scope: str | None = None,
    app_token: bool = False,
) -> Method:
    bot, user = scopes
    return Method(
        name, handler, tier, bot, user, frozenset(errors), by_name, private_scope, app_token
    )


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        _method("auth.test", users.auth_test, None, ((), ())),
        _method(
            "chat.postMessage",
            chat_post.post_message,
            None,
            (_CHAT, _CHAT),
            (*_POST_ERRORS, "msg_blocks_too_long", *_METADATA_ERRORS),
            by_name=True,
        ),
        _method(
            "chat.postEphemeral",
            chat_post.post_ephemeral,
            4,
            (_CHAT, _CHAT),
            (*_POST_ERRORS, "invalid_attachments", "user_not_in_channel", "msg_too_long"),
            by_name=True,
        ),
        _method(
            "chat.update",
            chat_edit.update,
            3,
            (_CHAT, _CHAT),
            (
                "channel_not_found",
                "is_inactive",
                "message_not_found",
                "cant_update_message",
                "msg_too_long",
                # Not in the catalog's chat.update page; the update stores the same blocks a
                # post does, so the total-text limit applies too (limits-measured.md).
                "msg_blocks_too_long",
                "no_text",
                "invalid_blocks",
                "invalid_blocks_format",
                "invalid_attachments",
                "too_many_attachments",
                "markdown_text_conflict",
                *_METADATA_ERRORS,
            ),
        ),
        _method(
            "chat.delete",
            chat_edit.delete,
            3,
            (_CHAT, _CHAT),
            ("channel_not_found", "message_not_found", "cant_delete_message"),
        ),
        _method(
            "chat.getPermalink",
            chat_edit.get_permalink,
            None,
            ((), ()),
            ("channel_not_found", "message_not_found"),
        ),
        _method(
            "conversations.history",
            conversations.history,
            3,
            (_HISTORY, _HISTORY),
            (
                "channel_not_found",
                "not_in_channel",
                "invalid_cursor",
                "invalid_ts_latest",
                "invalid_ts_oldest",
            ),
            private_scope="groups:history",
        ),
        _method(
            "conversations.replies",
            conversations.replies,
            3,
            (_HISTORY, _HISTORY),
            (
                "channel_not_found",
                "not_in_channel",
                "thread_not_found",
                "invalid_cursor",
                "invalid_ts_latest",
                "invalid_ts_oldest",
            ),
            private_scope="groups:history",
        ),
        _method(
            "conversations.info",
            conversations.info,
            3,
            (_READ, _READ),
            ("channel_not_found",),
            private_scope="groups:read",
        ),
        _method(
            "conversations.join",
            conversations.join,
            3,
            (("channels:join",), ("channels:write",)),
            ("channel_not_found", "is_archived", "method_not_supported_for_channel_type"),
        ),
        _method(
            "conversations.list",
            conversations.list_channels,
            2,
            (_READ, _READ),
            ("invalid_cursor", "invalid_limit", "invalid_types"),
        ),
        _method(
            "users.info", users.info, 4, (("users:read",), ("users:read",)), ("user_not_found",)
        ),
        _method(
            "users.lookupByEmail",
            users.lookup_by_email,
            3,
            (("users:read.email",), ("users:read.email",)),
            ("users_not_found",),
        ),
        _method(
            "reactions.add",
            items.add_reaction,
            3,
            (("reactions:write",), ("reactions:write",)),
            (
                "channel_not_found",
                "message_not_found",
                "already_reacted",
                "invalid_name",
                "is_archived",
            ),
        ),
        _method(
            "pins.add",
            items.add_pin,
            2,
            (("pins:write",), ("pins:write",)),
            ("channel_not_found", "message_not_found", "already_pinned", "not_in_channel"),
        ),
        _method(
            "reactions.remove",
            items.remove_reaction,
            2,
            (("reactions:write",), ("reactions:write",)),
            (
                "channel_not_found",
                "message_not_found",
                "no_reaction",
                "invalid_name",
                "no_item_specified",
            ),
        ),
        _method(
            "reactions.get",
            items.get_reactions,
            3,
            (("reactions:read",), ("reactions:read",)),
            ("channel_not_found", "message_not_found", "no_item_specified"),
        ),
        _method(
            "pins.remove",
            items.remove_pin,
            2,
            (("pins:write",), ("pins:write",)),
            ("channel_not_found", "message_not_found", "not_pinned", "no_item_specified"),
        ),
        _method("pins.list", items.list_pins, 2, (("pins:read",), ("pins:read",)), _NOT_FOUND),
        _method("views.open", views.open_view, 4, ((), ()), _TRIGGER_ERRORS),
        _method(
            "views.push",
            views.push_view,
            4,
            ((), ()),
            (*_TRIGGER_ERRORS, "not_found", "push_limit_reached"),
        ),
        _method(
            "views.update",
            views.update_view,
            4,
            ((), ()),
            ("duplicate_external_id", "hash_conflict", "not_found", "view_too_large"),
        ),
        _method("apps.connections.open", views.open_connection, 3, ((), ()), (), app_token=True),
    )
}

__all__ = ["METHODS", "Call", "Method"]
