"""The pages package's shared vocabulary: the one callout table, read both ways."""

from __future__ import annotations

import pytest

from worker.pages.blocks import CALLOUT_STYLES, callout_kind
from worker.pages.to_blocks import markdown_to_blocks
from worker.pages.to_markdown import blocks_to_markdown


@pytest.mark.parametrize(
    ("icon", "kind"),
    [
        ("\N{INFORMATION SOURCE}\N{VARIATION SELECTOR-16}", "NOTE"),
        ("\N{INFORMATION SOURCE}", "NOTE"),
        ("💡", "TIP"),
        ("❗", "IMPORTANT"),
        ("📌", "IMPORTANT"),
        ("⚠️", "WARNING"),
        ("⚠", "WARNING"),
        ("🛑", "CAUTION"),
        ("⛔", "CAUTION"),
        ("🐙", "NOTE"),
        ("", "NOTE"),
    ],
    ids=[
        "note",
        "note without the variation selector",
        "tip",
        "important",
        "a pushpin reads as important",
        "warning",
        "warning without the variation selector",
        "caution",
        "no entry reads as caution",
        "another icon reads as a note",
        "no icon reads as a note",
    ],
)
def test_a_callout_icon_reads_back_as_its_alert_kind(icon: str, kind: str) -> None:
    assert callout_kind(icon) == kind


@pytest.mark.parametrize("kind", list(CALLOUT_STYLES))
def test_every_alert_kind_becomes_its_callout_and_reads_back_the_same(kind: str) -> None:
    markdown = f"> [!{kind}]\n> Careful\n"

    (block,) = markdown_to_blocks(markdown)

    assert block["type"] == "callout"
    assert block["callout"]["icon"] == {"type": "emoji", "emoji": CALLOUT_STYLES[kind].emoji}
    assert block["callout"]["color"] == CALLOUT_STYLES[kind].color
    assert blocks_to_markdown([block]) == markdown
