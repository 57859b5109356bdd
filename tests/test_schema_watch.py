"""Schema watch: what to say about the database, and when (the pure part)."""

from __future__ import annotations

import pytest

from tests.factories import settings
from tests.test_check import schema
from worker.actions import PostNotice
from worker.notion import DataSourceSchema
from worker.schema_watch import Said, digest_of, next_notice, schema_problems

BROKEN = ("property “Severity”: missing",)
OTHER = ("property “Impact”: is number; change it to rich_text",)


@pytest.mark.parametrize(
    ("said", "problems", "kind", "episode"),
    [
        (Said(), (), None, 0),  # fits, and nothing was ever said: nothing to say
        (Said(), BROKEN, "schema_broken", 1),
        (Said(1, digest_of(BROKEN)), BROKEN, None, 1),  # the same again: nothing
        (Said(1, digest_of(BROKEN)), (*BROKEN, *OTHER), "schema_broken", 2),  # worse
        (Said(2, digest_of(BROKEN)), (), "schema_fits", 3),
        (Said(3, ""), (), None, 3),  # still fits
        (Said(3, ""), BROKEN, "schema_broken", 4),  # broken the same way again: said again
    ],
    ids=["quiet", "broken", "same", "worse", "fixed", "still-fine", "again"],
)
def test_next_notice(said: Said, problems: tuple[str, ...], kind: str | None, episode: int) -> None:
    now_said, action = next_notice(said, problems)
    assert now_said.episode == episode
    assert now_said.digest == digest_of(problems)
    if kind is None:
        assert action is None
        return
    assert action is not None
    assert action.kind == "post_notice"
    assert action.page_id == "channel"
    assert action.payload == PostNotice(kind, problems)
    assert action.key.startswith(f"notice:schema:{episode}:")
    assert next_notice(said, problems)[1] == action  # the same key every time: said once


def test_said_survives_its_storage_and_shrugs_off_garbage() -> None:
    said = Said(4, "abc")
    assert Said.from_meta(said.to_meta()) == said
    for garbage in (None, "", "{", '{"episode": "x"}', "[]"):
        assert Said.from_meta(garbage) == Said()


def test_schema_problems_are_failures_then_warnings() -> None:
    properties = dict(schema().properties)
    del properties["Impact"]
    properties["Status"] = (
        "select",
        ("Investigating", "Identified", "Monitoring", "Resolved", "Closed"),
    )
    problems = schema_problems(DataSourceSchema("ds", "Incidents", properties), settings())
    assert [p.split(":")[0] for p in problems] == ["property “Impact”", "property “Status”"]
    assert "'Closed'" in problems[1]
    assert schema_problems(schema(), settings()) == ()


def test_with_several_databases_each_notice_says_which_and_is_its_own() -> None:
    """Two databases broken the same way, at the same episode, are two notices (a key
    planned once is never planned again: the second would never be said)."""
    _said, payments = next_notice(Said(), BROKEN, "Payments")
    _said, platform = next_notice(Said(), BROKEN, "Platform")
    _said, only = next_notice(Said(), BROKEN)
    assert payments is not None
    assert platform is not None
    assert only is not None
    assert payments.payload == PostNotice("schema_broken", BROKEN, database="Payments")
    assert len({payments.key, platform.key, only.key}) == 3
