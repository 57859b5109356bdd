"""`check` against the sandbox: all green when set up, and each problem says how to fix it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.harness import Harness, check, check_env, check_line, with_template
from worker.check import CheckResult, settings_results
from worker.cli import run_checks
from worker.config import BUNDLED_TEMPLATES
from worker.properties import PROPERTIES
from worker.sandbox import Sandbox


def _check(h: Harness, **env: str) -> list[CheckResult]:
    h.env.update(env)
    return run_checks(h.settings())


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
    assert sum(1 for n in names if n.startswith("property")) == len(PROPERTIES)
    h.close()


def test_schema_problems_say_how_to_fix_them(box: Sandbox, tmp_path: Path) -> None:
    h = Harness(box, tmp_path)
    client = h.client("Aiko")
    client.data_sources.update(
        data_source_id=h.data_source_id,
        properties={"Severity": None, "Impact": {"number": {}}, "Status": {"name": "State"}},
    )
    client.close()
    failures = "\n".join(_failures(_check(h, STATUS_OPTIONS="Investigating,Fixed,Resolved")))
    assert "property “Severity”: missing; if it was renamed, rename it back" in failures
    assert "otherwise add a select property named “Severity”" in failures
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


def test_a_private_channel_without_the_groups_scopes_names_both(
    box: Sandbox, tmp_path: Path
) -> None:
    """Slack refuses to describe a private channel to a token without groups:read, even to a
    member (missing_scope): check says which scopes a private channel needs."""
    private = box.slack.create_channel("incidents-private", bot_is_member=True)
    h = Harness(box, tmp_path)

    [failure] = [f for f in _failures(_check(h, SLACK_CHANNEL_ID=private)) if "Slack" in f]
    box.slack.set_bot_scopes(box.slack.bot_scopes | {"groups:read", "groups:history"})
    granted = _check(h)

    assert failure.startswith("FAIL  Slack channel: ")
    assert f"{private} is private and the app lacks the scopes groups:read, groups:history" in (
        failure
    )
    assert "reinstall the app" in failure
    assert _failures(granted) == []
    assert "#incidents-private: the app is a member" in "\n".join(r.line() for r in granted)
    h.close()


# --- settings and templates that only go wrong later -----------------------------------------


def test_check_refuses_settings_naming_severities_and_statuses_nobody_uses(h: Harness) -> None:
    env = {
        **h.box.worker_env(h.database_id),
        "DATABASE_URL": f"sqlite:///{h.state_dir / 'state.db'}",
        "UPDATE_CADENCE": "SEV1=15m,SEV9=5m",
        "BROADCAST_SEVERITIES": "P0",
        "QUIET_SEVERITIES": "SEV5",
        "MITIGATED_STATUSES": "Resolved",
    }
    settings, results = settings_results(env)
    assert settings is None
    lines = {r.name: r.detail for r in results if not r.ok}
    assert "SEV9" in lines["setting UPDATE_CADENCE"]
    assert "P0" in lines["setting BROADCAST_SEVERITIES"]
    assert "SEV5" in lines["setting QUIET_SEVERITIES"]
    assert "RESOLVED_STATUSES names too" in lines["setting MITIGATED_STATUSES"]
    failures = "\n".join(_failures(results))
    assert "(SEV1, SEV2, SEV3, SEV4)" in failures  # the options to choose from


@pytest.mark.parametrize(
    "condition",
    ["incident.severity == 'SEV1'", "incident.status == 'Monitoring'"],
    ids=["only-for-sev1", "only-while-monitoring"],
)
def test_check_catches_a_template_that_fails_for_one_severity_or_status(
    box: Sandbox, tmp_path: Path, condition: str
) -> None:
    source = (BUNDLED_TEMPLATES / "en" / "postmortem.md.j2").read_text("utf-8")
    broken = source + f"\n{{% if {condition} %}}{{{{ incident.no_such_fact }}}}{{% endif %}}\n"
    h, _templates = with_template(box, tmp_path, "postmortem.md.j2", broken)
    failures = "\n".join(_failures(_check(h)))
    assert "postmortem.md.j2" in failures
    assert "no_such_fact" in failures
    h.close()


# --- a wrong token, settings the database does not fit ----------------------------------------

WRONG_NOTION_TOKEN = "ntn_" + "W" * 46
WRONG_SLACK_TOKEN = "xoxb-000000000000-" + "W" * 24


@pytest.mark.parametrize(
    ("variable", "wrong", "failing", "fine"),
    [
        ("NOTION_TOKEN", WRONG_NOTION_TOKEN, "Notion token", "Slack token"),
        ("SLACK_BOT_TOKEN", WRONG_SLACK_TOKEN, "Slack token", "Notion token"),
    ],
)
def test_check_says_which_token_is_wrong_and_how_to_fix_it(
    h: Harness, variable: str, wrong: str, failing: str, fine: str
) -> None:
    results = check(check_env(h, **{variable: wrong}))
    assert check_line(results, fine).ok
    bad = check_line(results, failing)
    assert not bad.ok
    assert variable in bad.detail  # which setting to fix, not only what Notion said
    assert wrong not in "\n".join(r.line() for r in results)


def test_check_flags_settings_naming_what_the_database_lacks(h: Harness) -> None:
    env = check_env(
        h,
        # The settings agree with each other (config.py checks that); not with the database.
        STATUS_OPTIONS="Investigating,Identified,Contained,Closed",
        RESOLVED_STATUSES="Closed",
        MITIGATED_STATUSES="Contained",
        MIRRORED_PROPERTIES="Name,Status,Root cuase",
    )
    failures = "\n".join(r.line() for r in check(env) if not r.ok)
    for named in ("RESOLVED_STATUSES", "MITIGATED_STATUSES", "Root cuase"):
        assert named in failures
