"""`check` on the database's schema: what an existing database needs, and what it may vary."""

from __future__ import annotations

import pytest

from tests.factories import settings
from worker.check import CheckResult, postmortem_schema_results, schema_results
from worker.notion import DataSourceSchema
from worker.properties import PROPERTIES

OPTIONS = {
    "status": ("Investigating", "Identified", "Monitoring", "Resolved"),
    "severity": ("SEV1", "SEV2", "SEV3", "SEV4"),
    "customer_comms": ("None", "Internal only", "Customers notified"),
}


def schema(**kinds: tuple[str, tuple[str, ...]]) -> DataSourceSchema:
    """The schema `setup` creates, with some logical properties replaced by `kinds`."""
    properties = {
        p.default_name: kinds.get(p.key, (p.accepted[0], OPTIONS.get(p.key, ())))
        for p in PROPERTIES
    }
    return DataSourceSchema(id="ds", title="Incidents", properties=properties)


def failures(results: list[CheckResult]) -> list[str]:
    return [r.line() for r in results if not r.ok]


def test_the_schema_setup_creates_passes() -> None:
    assert failures(schema_results(schema(), settings())) == []


def test_customer_comms_as_free_text_needs_no_options() -> None:
    results = schema_results(schema(customer_comms=("rich_text", ())), settings())
    assert failures(results) == []


def test_customer_comms_options_of_ones_own_are_accepted_when_configured() -> None:
    ours = ("No", "Yes")
    results = schema_results(schema(customer_comms=("select", ours)), settings())
    [failure] = failures(results)
    assert "'None'" in failure
    assert "CUSTOMER_COMMS_OPTIONS" in failure  # the setting it names exists:
    configured = settings(CUSTOMER_COMMS_OPTIONS="No,Yes")
    assert failures(schema_results(schema(customer_comms=("select", ours)), configured)) == []


def test_a_missing_property_says_how_to_add_or_map_it() -> None:
    kinds = dict(schema().properties)
    del kinds["Scribe"]
    results = schema_results(DataSourceSchema("ds", "Incidents", kinds), settings())
    [failure] = failures(results)
    assert "add a people property named “Scribe”" in failure
    assert "NOTION_PROPERTY_NAMES='Scribe=<your name>'" in failure


POSTMORTEMS = {
    "Name": ("title", ()),
    "Incident": ("relation", ()),
    "Owner": ("people", ()),
    "Status": ("select", ("Draft", "In review", "Done")),
    "Due": ("date", ()),
}


def test_a_missing_property_suggests_renaming_it_back() -> None:
    kinds = dict(schema().properties)
    del kinds["Severity"]
    results = schema_results(DataSourceSchema("ds", "Incidents", kinds), settings())
    [failure] = failures(results)
    assert "rename it back to “Severity” in Notion" in failure


def warnings(results: list[CheckResult]) -> list[str]:
    return [r.line() for r in results if r.ok and r.warning]


@pytest.mark.parametrize(
    ("logical", "offered", "failure", "warning"),
    [
        # renamed in Notion: what the settings name is gone, and an unknown one is there
        (
            "severity",
            ("SEV1", "P2", "SEV3", "SEV4"),
            "has no option 'SEV2' but offers 'P2', which SEVERITY_OPTIONS does not name; "
            "rename them back in Notion, or set SEVERITY_OPTIONS to the options you use "
            "(SEV1, P2, SEV3, SEV4)",
            None,
        ),
        # removed in Notion
        (
            "status",
            ("Investigating", "Identified", "Resolved"),
            "has no option 'Monitoring'; add them in Notion",
            None,
        ),
        # a value typed on a row (Notion adds it as an option): a warning, the worker runs
        (
            "status",
            (*OPTIONS["status"], "Closed"),
            None,
            "offers 'Closed', which STATUS_OPTIONS does not name, so the worker cannot tell "
            "what it means; add it to STATUS_OPTIONS (and to RESOLVED_STATUSES or "
            "MITIGATED_STATUSES if that is what it means), or rename or remove it in Notion",
        ),
        (
            "severity",
            (*OPTIONS["severity"], "SEV0", "sev1"),
            None,
            "offers 'SEV0', 'sev1', which SEVERITY_OPTIONS does not name, so the worker cannot "
            "tell what they mean; add them to SEVERITY_OPTIONS (and give it a cadence",
        ),
    ],
    ids=["renamed", "removed", "typed-status", "typed-severities"],
)
def test_options_are_compared_both_ways(
    logical: str, offered: tuple[str, ...], failure: str | None, warning: str | None
) -> None:
    results = schema_results(schema(**{logical: ("select", offered)}), settings())
    found = [f for f in failures(results) if f.startswith(f"FAIL  property “{logical.title()}”")]
    assert [failure in f for f in found] == ([True] if failure else [])
    assert [warning in w for w in warnings(results)] == ([True] if warning else [])


def test_a_postmortems_database_as_setup_creates_it_passes() -> None:
    results = postmortem_schema_results(DataSourceSchema("pm", "Postmortems", POSTMORTEMS))
    assert failures(results) == []


def test_a_postmortems_database_of_ones_own_is_told_what_it_lacks() -> None:
    theirs = {**POSTMORTEMS, "Status": ("status", ("Draft",))}
    del theirs["Due"]
    [result] = postmortem_schema_results(DataSourceSchema("pm", "PMs", theirs))
    # Only postmortems depend on it: said loudly, but the worker still starts.
    assert result.warning
    assert result.line().startswith("warn")
    assert "no date property named “Due”" in result.detail
    assert "“Status” is status; change it to select" in result.detail
