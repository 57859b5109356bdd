"""Render (pages): the vocabulary shared by the pages package — Notion blocks and rich text as
JSON objects, and the one table of callout styles (Markdown `> [!NOTE]` ⇄ a Notion callout)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, TypeAlias

# A block or a rich-text item as Notion's JSON has it: a request object that `to_blocks` builds
# and `limits` cuts to size, or a response object that `to_markdown` reads back.
Block: TypeAlias = dict[str, Any]
RichText: TypeAlias = dict[str, Any]

_VARIATION_SELECTOR: Final = "\N{VARIATION SELECTOR-16}"


@dataclass(frozen=True)
class CalloutStyle:
    """How one GitHub alert kind looks as a Notion callout: its emoji icon and colour, and
    the other icons (written in Notion by hand) that read back as the same kind."""

    emoji: str
    color: str
    also: tuple[str, ...] = ()


# GitHub alert kind (`> [!NOTE]`) → its callout.
CALLOUT_STYLES: Final[dict[str, CalloutStyle]] = {
    "NOTE": CalloutStyle("\N{INFORMATION SOURCE}\N{VARIATION SELECTOR-16}", "blue_background"),
    "TIP": CalloutStyle("\N{ELECTRIC LIGHT BULB}", "green_background"),
    "IMPORTANT": CalloutStyle(
        "\N{HEAVY EXCLAMATION MARK SYMBOL}", "purple_background", also=("\N{PUSHPIN}",)
    ),
    "WARNING": CalloutStyle("\N{WARNING SIGN}\N{VARIATION SELECTOR-16}", "yellow_background"),
    "CAUTION": CalloutStyle("\N{OCTAGONAL SIGN}", "red_background", also=("\N{NO ENTRY}",)),
}
DEFAULT_CALLOUT_KIND: Final = "NOTE"

_KIND_OF_ICON: Final = {
    icon.replace(_VARIATION_SELECTOR, ""): kind
    for kind, style in CALLOUT_STYLES.items()
    for icon in (style.emoji, *style.also)
}


def callout_kind(emoji: str) -> str:
    """The alert kind a callout's icon reads back as (NOTE for any other icon, or none)."""
    return _KIND_OF_ICON.get(emoji.replace(_VARIATION_SELECTOR, ""), DEFAULT_CALLOUT_KIND)
