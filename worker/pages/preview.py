"""Preview: a page template rendered for a sample or a real incident, as Markdown or JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Literal

from worker.config import Settings
from worker.notion import NotionGateway
from worker.pages.context import (
    POSTMORTEM_TEMPLATE,
    render_postmortem_page,
    render_timeline_page,
    templates_for,
)
from worker.pages.effects import PageEffects
from worker.pages.limits import plan_requests
from worker.pages.samples import SampleVariant, sample_postmortem_context, sample_timeline_markdown
from worker.pages.to_blocks import markdown_to_blocks
from worker.pages.to_markdown import blocks_to_markdown
from worker.plan import page_id_from_url
from worker.store import Store

PageKind = Literal["timeline", "postmortem"]


def render_sample(kind: PageKind, settings: Settings, variant: SampleVariant) -> str:
    templates = templates_for(settings)
    if kind == "timeline":  # as it reads after the incident: the header, then its entries
        return sample_timeline_markdown(templates, settings, variant)
    context = sample_postmortem_context(settings, variant, templates=templates)
    return templates.render(POSTMORTEM_TEMPLATE, context)


def render_incident(
    kind: PageKind,
    settings: Settings,
    notion: NotionGateway,
    page_id: str,
    *,
    open_store: Callable[[], Store],
    now: datetime,
) -> str:
    """The page as the worker would create it `now` for this incident (nothing is written;
    a postmortem reads the status updates the state store kept)."""
    incident = notion.retrieve_incident(page_id)
    if kind == "timeline":
        return render_timeline_page(incident, settings, now, slack_thread_url=incident.slack_thread)
    if incident.resolved_at is None:
        incident = replace(incident, resolved_at=now)
    timeline_id = page_id_from_url(incident.timeline_url)
    timeline = blocks_to_markdown(notion.read_tree(timeline_id)) if timeline_id else ""
    store = open_store()
    try:
        updates = PageEffects.status_updates_from(store, page_id)
    finally:
        store.close()
    return render_postmortem_page(
        incident,
        status_updates=updates,
        timeline_markdown=timeline,
        settings=settings,
        now=now,
        slack_thread_url=incident.slack_thread,
    )


def as_blocks_json(markdown: str) -> str:
    """The Notion requests the page would take: each with its parent and children."""
    requests = plan_requests(markdown_to_blocks(markdown))
    out = [
        {"parent": "page" if i == 0 else repr(r.parent), "children": list(r.children)}
        for i, r in enumerate(requests)
    ]
    return json.dumps(out, ensure_ascii=False, indent=2)
