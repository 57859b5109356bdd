"""`check` against the sandbox: all green when set up, and each problem says how to fix it."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.e2e.harness import Harness
from worker.check import Checker, CheckResult
from worker.config import BUNDLED_TEMPLATES
from worker.notion import NotionGateway
from worker.sandbox import Sandbox
from worker.slack import SlackGateway


def _check(h: Harness, **env: str) -> list[CheckResult]:
    h.env.update(env)
    settings = h.settings()
    notion = NotionGateway.build(settings)
    try:
        return Checker(settings, notion, SlackGateway.build(settings)).run()
    finally:
        notion.close()


def _failures(results: list[CheckResult]) -> list[str]:
    return [r.line() for r in results if not r.ok]


def test_a_fresh_setup_passes_every_check(box: Sandbox, tmp_path: Path) -> None:
    h = Harness(box, tmp_path)
    results = _check(h)
    assert _failures(results) == []
    names = [r.name for r in results]
    for expected in (
        "state store",
        "Notion token",
        "Incidents database",
        "Slack token",
        "Slack channel",
        "templates",
    ):
        assert expected in names
    assert sum(1 for n in names if n.startswith("property")) == 15
    h.close()


def test_schema_problems_say_how_to_fix_them(box: Sandbox, tmp_path: Path) -> None:
    h = Harness(box, tmp_path)
    client = h.client("Aiko")
    client.data_sources.update(
        data_source_id=h.data_source_id,
        properties={"Severity": None, "Impact": {"number": {}}, "Status": {"name": "State"}},
    )
    client.close()
    failures = "\n".join(_failures(_check(h, STATUS_OPTIONS="Investigating,Fixed")))
    assert "property “Severity”: missing; add a select property named “Severity”" in failures
    assert "property “Impact”: is number; change it to rich_text" in failures
    assert "NOTION_PROPERTY_NAMES='Status=<your name>'" in failures
    h.close()


def test_unknown_options_are_listed(box: Sandbox, tmp_path: Path) -> None:
    h = Harness(box, tmp_path)
    failures = _failures(_check(h, STATUS_OPTIONS="Investigating,Fixed,Resolved"))
    assert any("has no option 'Fixed'" in f and "STATUS_OPTIONS" in f for f in failures)
    h.close()


def test_an_archived_channel_and_a_broken_template_are_reported(
    box: Sandbox, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(BUNDLED_TEMPLATES, templates)
    (templates / "en" / "postmortem.md.j2").write_text("{% for x in %}\n")
    state = tmp_path / "state"
    state.mkdir()
    h = Harness(box, state)
    box.slack.archive_channel(h.channel)
    failures = "\n".join(_failures(_check(h, TEMPLATES_DIR=str(templates))))
    assert "is archived; unarchive it" in failures
    assert "postmortem.md.j2, line 1" in failures
    h.close()


def test_a_database_not_shared_with_the_integration(box: Sandbox, tmp_path: Path) -> None:
    h = Harness(box, tmp_path)
    box.notion.share(box.workspace.parent_page_id, shared=False)
    failures = "\n".join(_failures(_check(h)))
    assert "Incidents database" in failures
    assert "shared with the integration" in failures
    h.close()
