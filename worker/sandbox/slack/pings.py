"""Sandbox Slack: who a message would notify, parsed the way Slack parses mentions.

A ping is written in Slack's own vocabulary: `!channel`, `!here`, `!everyone`,
`!subteam^S123` and `@U123` (a user). Escaped text (`&lt;!channel&gt;`) pings nobody, nor
does anything inside a `plain_text` object.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# <!channel>, <!here|here>, <!subteam^S123|@oncall>, <@U123>, <@W123|name>
_CONTROL = re.compile(r"<([!@])([^<>|]+)(?:\|[^<>]*)?>")
# A bare @channel is a mention only as a word of its own (not inside e@here.com).
_BARE = re.compile(r"(?<![\w@/.])@(channel|here|everyone)\b")
_SPECIAL = frozenset({"channel", "here", "everyone"})


def control_pings(text: str) -> set[str]:
    """Pings written as control sequences (`<!here>`, `<@U1>`): every text surface honours them."""
    found: set[str] = set()
    for sigil, target in _CONTROL.findall(text):
        if sigil == "@":
            found.add("@" + target)
        elif target in _SPECIAL or target.startswith("subteam^"):
            found.add("!" + target)
    return found


def bare_pings(text: str) -> set[str]:
    """A bare `@here` typed as text: a ping wherever Slack auto-parses the text."""
    return {"!" + word for word in _BARE.findall(text)}


def message_pings(
    text: str,
    blocks: Iterable[Any] | None,
    attachments: Iterable[Any] | None,
    *,
    parse_names: bool,
) -> set[str]:
    """All pings of a message.

    `parse_names` is true when the top-level text is auto-parsed (`link_names=1` or
    `parse=full`); mrkdwn text objects are auto-parsed unless `verbatim: true`.
    """
    found = control_pings(text)
    if parse_names:
        found |= bare_pings(text)
    for block in blocks or ():
        found |= _walk(block)
    for attachment in attachments or ():
        found |= _strings_pings(attachment)
    return found


def _walk(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_walk(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = _node_pings(node)
    for key, value in node.items():
        if key != "text" or not isinstance(value, str):
            found |= _walk(value)
    return found


def _node_pings(node: dict[str, Any]) -> set[str]:
    kind = node.get("type")
    text = node.get("text")
    if kind == "plain_text":
        # Shown literally, control sequences too: nobody is notified (slackapi/bolt-python
        # issue 343, slackapi/node-slack-sdk issue 712).
        return set()
    if isinstance(text, str):
        found = control_pings(text)
        auto_parsed = kind == "markdown" or (kind == "mrkdwn" and node.get("verbatim") is not True)
        return found | bare_pings(text) if auto_parsed else found
    # rich_text elements carry mentions as structured elements, never as parsed text.
    if kind == "broadcast" and node.get("range") in _SPECIAL:
        return {"!" + str(node["range"])}
    if kind == "user" and isinstance(node.get("user_id"), str):
        return {"@" + node["user_id"]}
    if kind == "usergroup" and isinstance(node.get("usergroup_id"), str):
        return {"!subteam^" + node["usergroup_id"]}
    return set()


def _strings_pings(node: Any) -> set[str]:
    """Legacy attachments: any control sequence in any of their strings counts."""
    if isinstance(node, str):
        return control_pings(node)
    if isinstance(node, list):
        return set().union(*(_strings_pings(item) for item in node)) if node else set()
    if isinstance(node, dict):
        return _strings_pings(list(node.values()))
    return set()
