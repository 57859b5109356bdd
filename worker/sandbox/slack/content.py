"""Sandbox Slack: read and check what a message says (text, blocks, attachments, metadata)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from worker.sandbox.slack.blocks import blocks_text_length, validate_blocks
from worker.sandbox.slack.errors import SlackError, invalid_blocks, schema_messages
from worker.sandbox.slack.params import Params

POST_TEXT_MAX = 40_000  # chat.postMessage truncates above this (with a warning)
UPDATE_TEXT_MAX = 4_000  # chat.update refuses above this (msg_too_long)
MARKDOWN_TEXT_MAX = 12_000
MAX_ATTACHMENTS = 100


@dataclass(frozen=True)
class Content:
    """The content arguments of one call; `None` means "not sent" (chat.update keeps it)."""

    text: str | None
    blocks: list[dict[str, Any]] | None
    attachments: list[dict[str, Any]] | None
    # `{}` was sent: chat.update removes the message's metadata (a post stores none).
    metadata: dict[str, Any] | None
    # Top-level text is auto-parsed for bare @here only with link_names=1 or parse=full.
    parse_names: bool
    # Why Work Object metadata was dropped: Slack posts the message anyway and says so.
    metadata_problems: tuple[str, ...] = ()

    @property
    def renders_nothing(self) -> bool:
        return not self.text and not self.blocks and not self.attachments


def read_content(
    params: Params, *, attachments_error: str = "invalid_attachments", entities: bool = False
) -> Content:
    """The content arguments, checked; `attachments_error` is the method's code for bad ones;
    `entities`: the method takes Work Object entity metadata (chat.postMessage)."""
    text = params.text("text") if "text" in params.values else None
    blocks = _read_blocks(params)
    if params.has("markdown_text"):
        if text or blocks:
            raise SlackError("markdown_text_conflict")
        markdown = params.text("markdown_text")[:MARKDOWN_TEXT_MAX]
        text, blocks = markdown, [{"type": "markdown", "text": markdown}]
    metadata, problems = _read_metadata(params, entities=entities)
    return Content(
        text=text,
        blocks=blocks,
        attachments=_read_attachments(params, attachments_error),
        metadata=metadata,
        parse_names=params.flag("link_names") or params.text("parse") == "full",
        metadata_problems=problems,
    )


def check_whole_message(
    content: Content, blocks_text_max: int, refusals: Mapping[str, str]
) -> None:
    """What Slack refuses of a whole chat.postMessage or chat.update, each block being valid:
    blocks whose text adds up to more than `blocks_text_max` characters
    (`msg_blocks_too_long`), and, for tests, content carrying a marker a test asked to have
    refused (`refusals`: marker → error code)."""
    if content.blocks and blocks_text_length(content.blocks) > blocks_text_max:
        raise SlackError("msg_blocks_too_long")
    if refusals:
        seen = (content.text or "") + json.dumps(content.blocks or [], ensure_ascii=False)
        for marker, code in refusals.items():
            if marker in seen:
                raise SlackError(code)


def _read_blocks(params: Params) -> list[dict[str, Any]] | None:
    if "blocks" not in params.values or params.values["blocks"] is None:
        return None
    parsed, blocks = params.structured("blocks")
    if not parsed or not isinstance(blocks, list):
        raise SlackError("invalid_blocks_format")
    problems = validate_blocks(blocks)
    if problems:
        raise invalid_blocks(problems)
    return blocks


def _read_attachments(params: Params, error: str) -> list[dict[str, Any]] | None:
    if not params.has("attachments"):
        return None
    parsed, attachments = params.structured("attachments")
    if not parsed or not isinstance(attachments, list):
        raise schema_messages(error, ["[ERROR] must be an array [json-pointer:/attachments]"])
    if len(attachments) > MAX_ATTACHMENTS:
        raise SlackError("too_many_attachments")
    if not all(isinstance(a, dict) for a in attachments):
        raise schema_messages(error, ["[ERROR] must be an object [json-pointer:/attachments]"])
    return attachments


def _read_metadata(
    params: Params, *, entities: bool
) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """`{event_type, event_payload}` (message metadata), and on a post `entities` (Work
    Objects) beside or instead of them; `{}` as sent. Bad Work Object entities are dropped
    with their problems, not refused."""
    if not params.has("metadata"):
        return None, ()
    parsed, metadata = params.structured("metadata")
    if not parsed or not isinstance(metadata, dict):
        raise SlackError("invalid_metadata_format")
    if not metadata:
        return {}, ()
    found: dict[str, Any] = {}
    if not (entities and "entities" in metadata) or "event_type" in metadata:
        found = _event_metadata(metadata)
    if entities and "entities" in metadata:
        problems = entity_problems(metadata["entities"])
        if problems:
            return None, tuple(problems)
        found["entities"] = metadata["entities"]
    return found, ()


def _event_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(metadata.get("event_type"), str) or not metadata["event_type"]:
        raise SlackError("invalid_metadata_schema")
    payload = metadata.get("event_payload", {})
    if not isinstance(payload, dict):
        raise SlackError("invalid_metadata_schema")
    return {"event_type": metadata["event_type"], "event_payload": payload}


# What every Work Object entity carries (slack-sdk models/metadata EntityMetadata).
_ENTITY_FIELDS = ("entity_type", "entity_payload", "external_ref", "url")


def entity_problems(entities: Any) -> list[str]:
    """Why Slack would drop Work Object entities, worded as its warnings are."""
    if not isinstance(entities, list) or not entities:
        return ["must be a non-empty array (pointer: /metadata/entities)"]
    problems: list[str] = []
    for index, entity in enumerate(entities):
        at = f"/metadata/entities/{index}"
        if not isinstance(entity, dict):
            problems.append(f"must be an object (pointer: {at})")
            continue
        problems += [
            f"missing required field: {key} (pointer: {at})"
            for key in _ENTITY_FIELDS
            if key not in entity
        ]
        ref = entity.get("external_ref")
        if isinstance(ref, dict) and not isinstance(ref.get("id"), str):
            problems.append(f"missing required field: id (pointer: {at}/external_ref)")
    return problems
