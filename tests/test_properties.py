"""The property registry: what it declares holds together, and everything derived from it
(setup, check, the row parser, the worker's write-backs, the README) agrees with it."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from tests.factories import row, settings
from worker.check import schema_results
from worker.config import Settings
from worker.effects import with_written
from worker.errors import ConfigError
from worker.notion import DataSourceSchema, property_values
from worker.properties import (
    BY_KEY,
    DEFAULT_MIRRORED,
    OPTION_SETTINGS,
    PROPERTIES,
    WORKER_WRITTEN,
    IncidentProperty,
    Options,
    schema_table,
)
from worker.provision import incidents_schema
from worker.snapshot import Incident, Person, incident_from_json, incident_to_json, parse_incident

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

# The `Incident` field type each way of reading a property gives.
FIELD_TYPES: dict[str, Any] = {
    "text": str,
    "stripped_text": str,
    "optional_text": str | None,
    "option": str | None,
    "people": tuple[Person, ...],
    "date": datetime | None,
}


def _ids(props: tuple[IncidentProperty, ...]) -> list[str]:
    return [p.key for p in props]


# --- the README ---------------------------------------------------------------------------


def test_the_readme_shows_the_registry_as_its_database_table() -> None:
    how = "paste worker.properties.schema_table() into the README's section The database"
    assert schema_table() in README, how


def test_the_readme_table_has_one_row_per_property_or_run_of_alike_ones() -> None:
    rows = [line for line in schema_table().splitlines() if not line.startswith("| --")][1:]
    named = [name.strip() for line in rows for name in line.split("|")[1].split(",")]
    assert named == [p.default_name for p in PROPERTIES]
    assert "| Status update | rich text | people (an edit of *Status update*" in schema_table()
    assert "| Declared at, Mitigated at, Resolved at | date | the worker, on transitions" in (
        schema_table()
    )


def test_the_readme_names_the_default_mirrored_properties() -> None:
    names = ",".join(BY_KEY[key].default_name for key in DEFAULT_MIRRORED)
    assert f"| `MIRRORED_PROPERTIES` | `{names}` |" in README


@pytest.mark.parametrize("options", OPTION_SETTINGS, ids=lambda o: o.setting)
def test_the_readme_names_each_options_setting_with_its_default(options: Options) -> None:
    assert f"| `{options.setting}` | `{','.join(options.default)}` |" in README


# --- the registry holds together ----------------------------------------------------------


def test_keys_and_default_names_are_each_unique_and_setup_creates_an_accepted_type() -> None:
    assert len(BY_KEY) == len(PROPERTIES)
    assert len({p.default_name.casefold() for p in PROPERTIES}) == len(PROPERTIES)
    assert all(p.created_type in p.accepted for p in PROPERTIES)


@pytest.mark.parametrize("prop", PROPERTIES, ids=_ids(PROPERTIES))
def test_each_incident_field_exists_with_the_type_its_reading_gives(prop: IncidentProperty) -> None:
    if prop.incident_field is None:
        return
    assert get_type_hints(Incident)[prop.incident_field] == FIELD_TYPES[prop.reading]


@pytest.mark.parametrize("prop", PROPERTIES, ids=_ids(PROPERTIES))
def test_a_property_read_as_an_option_names_the_setting_of_its_options(
    prop: IncidentProperty,
) -> None:
    if prop.reading == "option":
        assert prop.options is not None
    if prop.options is not None:
        assert set(prop.accepted) & {"select", "status"}
        settings_fields = {f.name: f.default for f in fields(Settings)}
        assert settings_fields[prop.options.settings_field] == prop.options.default
        assert prop.options.configured(settings()) == prop.options.default
        reordered = prop.options.default[::-1]
        configured = settings(**{prop.options.setting: ",".join(reordered)})
        assert prop.options.configured(configured) == reordered


WORKER_PROPERTIES = tuple(BY_KEY[key] for key in WORKER_WRITTEN)


@pytest.mark.parametrize("prop", WORKER_PROPERTIES, ids=_ids(WORKER_PROPERTIES))
def test_what_the_worker_writes_is_never_mirrored_and_is_remembered(
    prop: IncidentProperty,
) -> None:
    assert not prop.mirrored
    assert prop.accepted == (prop.created_type,)
    assert prop.incident_field is not None


def test_people_write_what_is_mirrored_and_the_worker_fills_only_its_own_dates() -> None:
    assert all(BY_KEY[key].writer == "people" for key in DEFAULT_MIRRORED)
    assert all(p.writer == "worker" and p.reading == "date" for p in PROPERTIES if p.fill_if_empty)


@pytest.mark.parametrize("prop", WORKER_PROPERTIES, ids=_ids(WORKER_PROPERTIES))
def test_mirroring_a_property_the_worker_writes_is_refused(prop: IncidentProperty) -> None:
    with pytest.raises(ConfigError) as err:
        settings(MIRRORED_PROPERTIES=f"Name,{prop.default_name}")
    said = f"{prop.default_name!r} is written by the worker itself and cannot be mirrored"
    assert said in str(err.value)


# --- what derives from it -----------------------------------------------------------------


def _as_schema(created: dict[str, Any]) -> DataSourceSchema:
    """What `check` reads back of a database `setup` created with these properties."""
    properties = {}
    for name, definition in created.items():
        ((kind, body),) = definition.items()
        options = tuple(o["name"] for o in body.get("options", ()))
        properties[name] = (kind, options)
    return DataSourceSchema(id="ds", title="Incidents", properties=properties)


RENAMED = {
    "NOTION_PROPERTY_NAMES": "Status=State,Slack thread=Thread",
    "SEVERITY_OPTIONS": "P1,P2",
    "UPDATE_CADENCE": "P1=15m,P2=30m",
}


@pytest.mark.parametrize("env", [{}, RENAMED], ids=["defaults", "renamed"])
def test_what_setup_creates_is_what_check_wants(env: dict[str, str]) -> None:
    configured = settings(**env)
    created = incidents_schema(configured)
    assert list(created) == [configured.properties[p.key] for p in PROPERTIES]
    results = schema_results(_as_schema(created), configured)
    assert [r.line() for r in results if not r.ok or r.warning] == []
    assert len(results) == len(PROPERTIES)


def test_a_row_with_every_property_parses_without_problems_and_stores_whole() -> None:
    incident = parse_incident(row(), settings())
    assert incident.problems == ()
    assert incident.unreadable == ()
    assert incident_from_json(incident_to_json(incident)) == incident


@pytest.mark.parametrize("prop", PROPERTIES, ids=_ids(PROPERTIES))
def test_a_property_missing_from_the_row_is_said_and_unreadable(prop: IncidentProperty) -> None:
    incident = parse_incident(row(drop=(prop.default_name,)), settings())
    assert incident.problems == (f"property {prop.default_name!r} is missing",)
    assert incident.unreadable == (prop.key,)


SAMPLES = {"url": "https://example.slack.com/archives/C1/p1", "date": "2026-11-28T09:05:00+00:00"}


@pytest.mark.parametrize("prop", WORKER_PROPERTIES, ids=_ids(WORKER_PROPERTIES))
def test_what_the_worker_writes_reads_back_as_it_remembers_it(prop: IncidentProperty) -> None:
    configured = settings()
    value = SAMPLES[prop.created_type]
    body = property_values(configured, {prop.key: value})
    name = configured.properties[prop.key]
    assert list(body) == [name]
    written = row(extra={name: {"id": "x", "type": prop.created_type, **body[name]}})
    read_back = parse_incident(written, configured)
    remembered = with_written(parse_incident(row(), configured), {prop.key: value})
    assert prop.incident_field is not None
    assert getattr(read_back, prop.incident_field) == getattr(remembered, prop.incident_field)
    assert getattr(read_back, prop.incident_field) not in (None, "")
    cleared = with_written(read_back, {prop.key: None})
    assert getattr(cleared, prop.incident_field) is None
    assert property_values(configured, {prop.key: None})[name] == {prop.created_type: None}


def test_a_row_renamed_by_the_settings_is_read_under_its_new_names() -> None:
    configured = settings(NOTION_PROPERTY_NAMES="Severity=Priority")
    renamed = row(severity=None, extra={"Priority": _select("SEV1")}, drop=("Severity",))
    assert parse_incident(renamed, configured).severity == "SEV1"
    assert parse_incident(row(), configured).unreadable == ("severity",)


def _select(name: str) -> dict[str, Any]:
    return {"id": "p", "type": "select", "select": {"id": "1", "name": name, "color": "red"}}
