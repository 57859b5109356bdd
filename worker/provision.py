"""Setup: create the Incidents database with the schema the worker expects (once)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from worker.config import Settings
from worker.errors import ServiceError, WorkerError
from worker.notion import NotionGateway
from worker.pages.effects import POSTMORTEM_PROPERTIES, POSTMORTEM_STATUSES
from worker.properties import PROPERTIES, IncidentProperty

_COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "gray")


def _options(names: tuple[str, ...], colors: dict[str, str] | None = None) -> dict[str, Any]:
    palette = colors or {}
    return {
        "options": [
            {"name": name, "color": palette.get(name, _COLORS[i % len(_COLORS)])}
            for i, name in enumerate(names)
        ]
    }


def incidents_schema(settings: Settings) -> dict[str, Any]:
    """The data source's properties, under the team's configured names.

    Status is a select: Notion's API cannot create the options of a status property.
    A team that prefers a status property can make one by hand with the same options.
    """
    return {settings.properties[p.key]: _created(p, settings) for p in PROPERTIES}


def _created(prop: IncidentProperty, settings: Settings) -> dict[str, Any]:
    """One property's definition for databases.create, with its options (if any)."""
    spec = prop.options
    if spec is None:
        return {prop.created_type: {}}
    colors = dict(spec.colors)
    if prop.key == "status":  # whatever the team calls its resolved statuses, they are green
        colors.update({resolved: "green" for resolved in settings.resolved_statuses})
    return {prop.created_type: _options(spec.configured(settings), colors)}


def postmortems_schema(incidents_data_source_id: str) -> dict[str, Any]:
    names = POSTMORTEM_PROPERTIES
    return {
        names["title"]: {"title": {}},
        names["incident"]: {
            "relation": {"data_source_id": incidents_data_source_id, "single_property": {}}
        },
        names["owner"]: {"people": {}},
        names["status"]: {
            "select": _options(
                POSTMORTEM_STATUSES, {"Draft": "gray", "In review": "yellow", "Done": "green"}
            )
        },
        names["due"]: {"date": {}},
    }


@dataclass(frozen=True)
class SetupResult:
    database_id: str
    created: bool
    postmortem_database_id: str | None = None

    def env_lines(self, listed: Sequence[str] = ()) -> str:
        """The lines for `.env`; `listed`: the Incidents databases the settings already
        follow, which this one joins (after them: the first one stays first)."""
        databases = [*listed, self.database_id] if self.database_id not in listed else listed
        lines = f"NOTION_INCIDENTS_DATABASE_ID={','.join(databases or [self.database_id])}\n"
        if self.postmortem_database_id:
            lines += f"POSTMORTEM_DATABASE_ID={self.postmortem_database_id}\n"
        return lines


def _not_shared(page_id: str) -> WorkerError:
    return WorkerError(
        f"Notion cannot see the page {page_id}. Open it in Notion, choose ••• → Connections, "
        "add your integration, and run setup again (or check the id: it is the 32 hex "
        "characters at the end of the page's URL)."
    )


def find_database(notion: NotionGateway, parent_page_id: str, title: str) -> str | None:
    """A live database titled `title` directly inside the parent page, if there is one."""
    for block in notion.child_blocks(parent_page_id):
        if block.type == "child_database" and not block.in_trash and block.title == title:
            return block.id
    return None


def _create_database(
    notion: NotionGateway, parent_page_id: str, title: str, emoji: str, schema: dict[str, Any]
) -> str:
    return notion.create_database(parent_page_id, title, emoji, schema)


def setup_incidents(
    notion: NotionGateway,
    settings: Settings,
    parent_page_id: str,
    *,
    title: str = "Incidents",
    force: bool = False,
    with_postmortems: bool = False,
) -> SetupResult:
    """Create the Incidents (and Postmortems) databases under the parent page, unless
    they already exist there."""
    try:
        existing = find_database(notion, parent_page_id, title)
    except ServiceError as exc:
        if exc.code == "object_not_found":
            raise _not_shared(parent_page_id) from exc
        raise
    created = not existing or force
    database_id = (
        _create_database(notion, parent_page_id, title, "🚨", incidents_schema(settings))
        if created
        else str(existing)
    )
    postmortems = None
    if with_postmortems:
        pm_title = "Postmortems"
        postmortems = None if force else find_database(notion, parent_page_id, pm_title)
        if postmortems is None:
            source = notion.data_source_of(database_id)
            schema = postmortems_schema(source)
            postmortems = _create_database(notion, parent_page_id, pm_title, "📝", schema)
    return SetupResult(database_id, created=created, postmortem_database_id=postmortems)
