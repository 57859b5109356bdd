"""Setup against the sandbox: the databases it creates are the ones `check` accepts, under the
team's names; running it again finds them instead of making a second."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from worker.check import postmortem_schema_results, schema_results
from worker.config import Settings
from worker.errors import WorkerError
from worker.notion import NotionGateway
from worker.properties import PROPERTIES
from worker.provision import SetupResult, setup_incidents
from worker.sandbox import Sandbox


def _settings(box: Sandbox, **env: str) -> Settings:
    """What `incident-worker setup` runs with: a token, and no database yet."""
    return Settings.from_env(
        {
            "NOTION_TOKEN": box.workspace.notion_token,
            "NOTION_BASE_URL": box.notion_base_url,
            "NOTION_REQUESTS_PER_SECOND": "1000",
            **env,
        },
        require_workspace=False,
    )


@pytest.fixture
def notion(box: Sandbox) -> Iterator[NotionGateway]:
    gateway = NotionGateway.build(_settings(box))
    yield gateway
    gateway.close()


def _databases(notion: NotionGateway, parent: str) -> list[str]:
    """The titles of the databases directly inside the parent page."""
    return [
        str(block["child_database"]["title"])
        for block in notion.list_children(parent)
        if block.get("type") == "child_database"
    ]


def _options(notion: NotionGateway, database_id: str, name: str) -> dict[str, str]:
    """A select property's options, name → colour, as Notion shows them."""
    source = notion.data_source_of(database_id)
    raw: dict[str, Any] = notion.client.data_sources.retrieve(source)  # type: ignore[assignment]
    prop = raw["properties"][name]
    return {o["name"]: o["color"] for o in prop[prop["type"]]["options"]}


def test_setup_creates_an_incidents_database_that_check_accepts(
    box: Sandbox, notion: NotionGateway
) -> None:
    settings = _settings(box)
    result = setup_incidents(notion, settings, box.workspace.parent_page_id)
    assert result.created
    schema = notion.schema(result.database_id)
    assert schema.title == "Incidents"
    assert {name: kind for name, (kind, _) in schema.properties.items()} == {
        p.default_name: p.created_type for p in PROPERTIES
    }
    assert [r.line() for r in schema_results(schema, settings) if not r.ok or r.warning] == []
    assert result.env_lines() == f"NOTION_INCIDENTS_DATABASE_ID={result.database_id}\n"


def test_setup_uses_the_teams_names_and_colours_its_resolved_statuses_green(
    box: Sandbox, notion: NotionGateway
) -> None:
    settings = _settings(
        box,
        NOTION_PROPERTY_NAMES="Status=State,Commander=IC",
        STATUS_OPTIONS="Open,Fixing,Watching,Done,Won't fix",
        MITIGATED_STATUSES="Watching",
        RESOLVED_STATUSES="Done,Won't fix",
    )
    result = setup_incidents(notion, settings, box.workspace.parent_page_id)
    schema = notion.schema(result.database_id)
    assert "Status" not in schema.properties
    assert "Commander" not in schema.properties
    assert schema.properties["IC"] == ("people", ())
    statuses = ("Open", "Fixing", "Watching", "Done", "Won't fix")
    assert schema.properties["State"] == ("select", statuses)
    colours = _options(notion, result.database_id, "State")
    assert colours["Done"] == colours["Won't fix"] == "green"
    assert "green" not in (colours["Open"], colours["Fixing"], colours["Watching"])
    assert [r.line() for r in schema_results(schema, settings) if not r.ok] == []


def test_running_setup_again_finds_the_database_and_makes_no_second(
    box: Sandbox, notion: NotionGateway
) -> None:
    settings = _settings(box)
    parent = box.workspace.parent_page_id
    first = setup_incidents(notion, settings, parent, with_postmortems=True)
    again = setup_incidents(notion, settings, parent, with_postmortems=True)
    assert not again.created
    assert again == SetupResult(
        first.database_id, created=False, postmortem_database_id=first.postmortem_database_id
    )
    assert again.env_lines() == first.env_lines()
    assert sorted(_databases(notion, parent)) == ["Incidents", "Postmortems"]


def test_force_makes_another_database_beside_the_first(box: Sandbox, notion: NotionGateway) -> None:
    settings = _settings(box)
    parent = box.workspace.parent_page_id
    first = setup_incidents(notion, settings, parent)
    forced = setup_incidents(notion, settings, parent, force=True)
    assert forced.created
    assert forced.database_id != first.database_id
    assert _databases(notion, parent) == ["Incidents", "Incidents"]


def test_the_postmortems_database_fits_and_links_to_the_incidents(
    box: Sandbox, notion: NotionGateway
) -> None:
    result = setup_incidents(
        notion, _settings(box), box.workspace.parent_page_id, with_postmortems=True
    )
    assert result.postmortem_database_id is not None
    schema = notion.schema(result.postmortem_database_id)
    assert schema.title == "Postmortems"
    assert [r.line() for r in postmortem_schema_results(schema) if r.warning] == []
    # Its relation points at the Incidents data source, so each postmortem names its incident.
    source = notion.data_source_of(result.postmortem_database_id)
    raw: dict[str, Any] = notion.client.data_sources.retrieve(source)  # type: ignore[assignment]
    (relation,) = [p for p in raw["properties"].values() if p["type"] == "relation"]
    assert relation["relation"]["data_source_id"] == notion.data_source_of(result.database_id)
    assert result.env_lines() == (
        f"NOTION_INCIDENTS_DATABASE_ID={result.database_id}\n"
        f"POSTMORTEM_DATABASE_ID={result.postmortem_database_id}\n"
    )


def test_a_parent_page_not_shared_says_how_to_share_it(box: Sandbox, notion: NotionGateway) -> None:
    parent = box.workspace.parent_page_id
    box.notion.share(parent, shared=False)
    with pytest.raises(WorkerError) as caught:
        setup_incidents(notion, _settings(box), parent)
    assert parent in str(caught.value)
    assert "••• → Connections" in str(caught.value)
    box.notion.share(parent, shared=True)
    assert _databases(notion, parent) == []  # nothing was made meanwhile


def test_a_database_set_up_beside_those_followed_joins_them_last() -> None:
    from worker.provision import SetupResult

    new = SetupResult("cccccccc-cccc-4ccc-8ccc-cccccccccccc", created=True)
    assert new.env_lines(["aaaa", "bbbb"]) == (
        "NOTION_INCIDENTS_DATABASE_ID=aaaa,bbbb,cccccccc-cccc-4ccc-8ccc-cccccccccccc\n"
    )
    assert new.env_lines([new.database_id, "bbbb"]) == (  # already followed: as it is
        f"NOTION_INCIDENTS_DATABASE_ID={new.database_id},bbbb\n"
    )
