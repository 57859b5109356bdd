"""Settings: every problem reported at once, with an example; secrets never shown."""

from __future__ import annotations

import dataclasses

import pytest

from tests.factories import settings
from worker.config import Secret, Settings, normalize_notion_id, parse_duration_s
from worker.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15s", 15.0),
        ("30m", 1800.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("500ms", 0.5),
        (" 5 m ", 300.0),
    ],
)
def test_durations_take_a_unit(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["15", "m", "15 minutes", "-5s", ""])
def test_durations_without_a_unit_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="unit"):
        parse_duration_s(text)


def test_all_missing_required_settings_are_reported_together() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({})
    variables = [p.variable for p in caught.value.problems]
    assert variables == [
        "NOTION_TOKEN",
        "SLACK_BOT_TOKEN",
        "NOTION_INCIDENTS_DATABASE_ID",
        "SLACK_CHANNEL_ID",
    ]
    assert "for example NOTION_TOKEN=ntn_" in str(caught.value)


def test_malformed_values_each_get_a_problem_with_an_example() -> None:
    with pytest.raises(ConfigError) as caught:
        settings(
            POLL_INTERVAL="15",
            TIMEZONE="Mars/Olympus",
            LOCALE="fr",
            UPDATE_CADENCE="SEV1:15m",
            SLACK_CHANNEL_ID="#incidents",
            PORT="99999",
        )
    text = str(caught.value)
    for variable in (
        "POLL_INTERVAL",
        "TIMEZONE",
        "LOCALE",
        "UPDATE_CADENCE",
        "SLACK_CHANNEL_ID",
        "PORT",
    ):
        assert variable in text
    assert "POLL_INTERVAL=15s" in text
    assert "not a channel id" in text or "channel id" in text


def test_a_misplaced_secret_is_not_echoed() -> None:
    pasted = "xoxp-secret-user-token-abcdef"
    with pytest.raises(ConfigError) as caught:
        settings(SLACK_BOT_TOKEN=pasted)
    assert pasted not in str(caught.value)
    assert "SLACK_BOT_TOKEN" in str(caught.value)


def test_secrets_do_not_show_in_repr() -> None:
    s = settings(DATABASE_URL="postgresql://app:hunter2-password@db/app")
    text = repr(s) + str(s)
    assert "hunter2-password" not in text
    assert "x" * 40 not in text
    assert "y" * 24 not in text
    assert repr(Secret("abc")) == "Secret('***')"
    assert f"{Secret('abc')}" == "Secret('***')"


def test_defaults() -> None:
    s = settings()
    assert s.poll_interval_s == 15.0
    assert s.update_cadence_s == {"SEV1": 900.0, "SEV2": 1800.0, "SEV3": 3600.0, "SEV4": None}
    assert s.database_url.reveal() == "sqlite:///state.db"
    assert s.properties["status_update"] == "Status update"
    assert s.notion_database_id == "01234567-89ab-cdef-0123-456789abcdef"
    assert s.slack_base_url == "https://slack.com/api/"
    assert s.outbox_retention_s == 30 * 86400.0
    assert settings(OUTBOX_RETENTION="7d").outbox_retention_s == 7 * 86400.0


@pytest.mark.parametrize(
    ("env", "commander_s", "severity_s"),
    [
        pytest.param({}, 300.0, 300.0, id="both 5 minutes"),
        pytest.param({"COMMANDER_GRACE": "2m"}, 120.0, 120.0, id="severity follows commander"),
        pytest.param({"SEVERITY_GRACE": "10m"}, 300.0, 600.0, id="severity on its own"),
        pytest.param(
            {"COMMANDER_GRACE": "2m", "SEVERITY_GRACE": "30s"}, 120.0, 30.0, id="each its own"
        ),
    ],
)
def test_the_severity_grace_defaults_to_the_commander_grace(
    env: dict[str, str], commander_s: float, severity_s: float
) -> None:
    s = settings(**env)
    assert (s.commander_grace_s, s.severity_grace_s) == (commander_s, severity_s)


def test_a_severity_grace_without_a_unit_is_a_problem() -> None:
    with pytest.raises(ConfigError, match="SEVERITY_GRACE"):
        settings(SEVERITY_GRACE="5")


def test_cadence_and_property_names_are_configurable() -> None:
    s = settings(
        UPDATE_CADENCE="SEV1=5m,SEV4=off,SEV3=2h",
        NOTION_PROPERTY_NAMES="Status=State, Commander=IC",
        MIRRORED_PROPERTIES="Name,State,IC,Component",
    )
    assert s.update_cadence_s["SEV1"] == 300.0
    assert s.update_cadence_s["SEV3"] == 7200.0
    assert s.update_cadence_s["SEV4"] is None
    assert s.properties["status"] == "State"
    assert s.mirrored == ("title", "status", "commander", "prop:Component")


def test_worker_written_properties_cannot_be_mirrored() -> None:
    with pytest.raises(ConfigError, match="written by the worker"):
        settings(MIRRORED_PROPERTIES="Name,Slack thread")


def test_base_urls_are_normalised_for_each_client() -> None:
    s = settings(NOTION_BASE_URL="http://127.0.0.1:9/", SLACK_BASE_URL="http://127.0.0.1:8/api")
    assert s.notion_base_url == "http://127.0.0.1:9"
    assert s.slack_base_url == "http://127.0.0.1:8/api/"


@pytest.mark.parametrize(
    "text",
    [
        "0123456789abcdef0123456789abcdef",
        "01234567-89ab-cdef-0123-456789abcdef",
        "https://www.notion.so/team/Incidents-0123456789abcdef0123456789abcdef?v=1",
        "https://app.notion.com/p/Timeline-of-the-outage-0123456789abcdef0123456789abcdef",
        "https://app.notion.com/p/0123456789abcdef0123456789abcdef/",
    ],
)
def test_notion_ids_are_accepted_in_every_usual_form(text: str) -> None:
    assert normalize_notion_id(text) == "01234567-89ab-cdef-0123-456789abcdef"


def test_a_heroku_dyno_needs_a_real_database() -> None:
    with pytest.raises(ConfigError, match="wiped on every restart"):
        settings(DYNO="worker.1")
    assert settings(DYNO="worker.1", DATABASE_URL="postgres://u:p@h/db").is_sqlite is False


def test_sqlite_is_refused_on_a_dyno_even_when_set_explicitly() -> None:
    with pytest.raises(ConfigError, match="is SQLite on a Heroku dyno"):
        settings(DYNO="worker.1", DATABASE_URL="sqlite:///state.db")


def test_commands_that_need_no_state_store_run_on_a_dyno_without_one() -> None:
    env = {"DYNO": "run.1"}
    assert Settings.from_env(env, require_workspace=False).is_sqlite
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        Settings.from_env(env, require_workspace=False, require_durable_store=True)


# --- settings that name severities and statuses --------------------------------------------


@pytest.mark.parametrize(
    ("env", "variable", "said"),
    [
        (
            {"UPDATE_CADENCE": "SEV1=15m,SEV9=5m"},
            "UPDATE_CADENCE",
            "names SEV9, which is not among SEVERITY_OPTIONS (SEV1, SEV2, SEV3, SEV4)",
        ),
        (
            {"BROADCAST_SEVERITIES": "P0"},
            "BROADCAST_SEVERITIES",
            "names P0, which is not among SEVERITY_OPTIONS (SEV1, SEV2, SEV3, SEV4)",
        ),
        (
            {"QUIET_SEVERITIES": "SEV4,SEV5"},
            "QUIET_SEVERITIES",
            "names SEV5, which is not among SEVERITY_OPTIONS",
        ),
        (
            {"MITIGATED_STATUSES": "Resolved"},
            "MITIGATED_STATUSES",
            "names Resolved, which RESOLVED_STATUSES names too",
        ),
        (
            {"MITIGATED_STATUSES": "Contained"},
            "MITIGATED_STATUSES",
            "names Contained, which is not among STATUS_OPTIONS (Investigating, Identified, "
            "Monitoring, Resolved)",
        ),
        (
            {"RESOLVED_STATUSES": "Closed,Done"},
            "RESOLVED_STATUSES",
            "names Closed, Done, which are not among STATUS_OPTIONS",
        ),
        (
            {"STATUS_OPTIONS": "Open,Fixed"},
            "RESOLVED_STATUSES",
            "is not set, and its default names Resolved, which is not among STATUS_OPTIONS "
            "(Open, Fixed)",
        ),
        (
            {"SEVERITY_OPTIONS": "SEV1,P2,SEV3,SEV4"},
            "UPDATE_CADENCE",
            "says nothing about P2 (from SEVERITY_OPTIONS)",
        ),
        (
            {"SEVERITY_OPTIONS": "P1,P2", "UPDATE_CADENCE": "P1=10m"},
            "UPDATE_CADENCE",
            "says nothing about P2",
        ),
    ],
)
def test_a_severity_or_status_the_options_do_not_have_is_refused(
    env: dict[str, str], variable: str, said: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(**env)
    (problem,) = caught.value.problems
    assert problem.variable == variable
    assert said in problem.problem
    assert problem.example  # what a good value looks like


@pytest.mark.parametrize(
    "env",
    [
        {
            "SEVERITY_OPTIONS": "P1,P2,P3",
            "UPDATE_CADENCE": "P1=10m,P2=30m,P3=off",
            "BROADCAST_SEVERITIES": "P1",
            "QUIET_SEVERITIES": "P3",
        },
        {
            "STATUS_OPTIONS": "Open,Mitigated,Closed",
            "MITIGATED_STATUSES": "Mitigated",
            "RESOLVED_STATUSES": "Closed",
        },
        # Defaults that name no option only switch something off (no mitigated stage, no
        # quiet severity): accepted.
        {"STATUS_OPTIONS": "Investigating,Fixed,Resolved"},
        {"SEVERITY_OPTIONS": "SEV1,SEV2"},
    ],
    ids=["own-severities", "own-statuses", "no-mitigated-stage", "two-severities"],
)
def test_settings_that_fit_the_options_are_accepted(env: dict[str, str]) -> None:
    settings(**env)


def test_every_mismatch_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        settings(
            UPDATE_CADENCE="SEV1=15m,SEV9=5m",
            BROADCAST_SEVERITIES="P0",
            QUIET_SEVERITIES="SEV5",
            MITIGATED_STATUSES="Resolved",
        )
    assert [p.variable for p in caught.value.problems] == [
        "UPDATE_CADENCE",
        "BROADCAST_SEVERITIES",
        "QUIET_SEVERITIES",
        "MITIGATED_STATUSES",
    ]


def test_a_malformed_option_list_is_not_blamed_twice() -> None:
    with pytest.raises(ConfigError) as caught:
        settings(UPDATE_CADENCE="SEV9:5m")
    assert [p.variable for p in caught.value.problems] == ["UPDATE_CADENCE"]


# --- .env.example copied as is -----------------------------------------------------------


def test_env_example_placeholders_are_named_and_never_taken_for_settings() -> None:
    from pathlib import Path

    from dotenv import dotenv_values

    example = dotenv_values(Path(__file__).resolve().parents[1] / ".env.example")
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({k: v or "" for k, v in example.items()})
    problems = {p.variable: p.problem for p in caught.value.problems}
    assert set(problems) == {
        "NOTION_TOKEN",
        "SLACK_BOT_TOKEN",
        "NOTION_INCIDENTS_DATABASE_ID",
        "SLACK_CHANNEL_ID",
    }
    for variable in ("NOTION_TOKEN", "SLACK_BOT_TOKEN", "SLACK_CHANNEL_ID"):
        assert "still holds the placeholder from .env.example" in problems[variable]
    assert "is not set" in problems["NOTION_INCIDENTS_DATABASE_ID"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NOTION_TOKEN", "ntn_..."),
        ("SLACK_BOT_TOKEN", "xoxb-..."),
        ("SLACK_BOT_TOKEN", "xoxb-1..."),
    ],
)
def test_a_placeholder_token_is_named_without_echoing_it(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(**{variable: value})
    (problem,) = caught.value.problems
    assert problem.variable == variable
    assert "placeholder" in problem.problem
    assert "xoxb-1..." not in str(caught.value)


def test_commands_without_a_workspace_take_a_placeholder_token_for_none() -> None:
    s = Settings.from_env({"NOTION_TOKEN": "ntn_..."}, require_workspace=False)
    assert not s.notion_token


# --- bad input: every malformed setting named with an example, secrets never echoed ---------

NOTION_TOKEN = "ntn_" + "N0t10nS3cr3t" * 4
SLACK_TOKEN = "xoxb-111-222-" + "Sl4ckS3cr3t" * 3
DB_PASSWORD = "hunter2-Pa55w0rd"
DATABASE_URL = f"postgresql://worker:{DB_PASSWORD}@db.internal:5432/incidents"

# (variable, a malformed value). Each must come back as one problem naming the variable
# with an example of a good value.
MALFORMED = [
    ("NOTION_TOKEN", "secret-without-the-prefix"),
    ("SLACK_BOT_TOKEN", "xoxp-a-user-token"),
    ("NOTION_INCIDENTS_DATABASE_ID", "Incidents"),
    ("SLACK_CHANNEL_ID", "#incidents"),
    ("DATABASE_URL", "state.db"),
    ("NOTION_BASE_URL", "api.notion.com"),
    ("SLACK_BASE_URL", "slack.com/api"),
    ("POLL_INTERVAL", "15"),
    ("POLL_OVERLAP", "a minute"),
    ("TEMPLATES_DIR", "/no/such/templates/dir"),
    ("LOCALE", "fr"),
    ("TIMEZONE", "Mars/Olympus_Mons"),
    ("POSTMORTEM_DATABASE_ID", "Postmortems"),
    ("LOG_FORMAT", "xml"),
    ("PORT", "99999"),
    ("NOTION_REQUESTS_PER_SECOND", "-3"),
    ("NOTION_TIMEOUT", "30"),
    ("SLACK_TIMEOUT", "0s"),
    ("DECLARE_GRACE", "two minutes"),
    ("NOTION_PROPERTY_NAMES", "Stat=State"),
    ("MIRRORED_PROPERTIES", "Name,Slack thread"),
    ("BROADCAST_RESOLVED", "maybe"),
    ("UPDATE_CADENCE", "SEV1:15m"),
    ("NAG_INTERVAL", "1"),
    ("MITIGATED_CADENCE_FACTOR", "double"),
    ("ESCALATE_AFTER_NUDGES", "0"),
    ("ESCALATE_TO", "@oncall"),
    ("COMMANDER_GRACE", "5 minutes"),
    ("SEVERITY_GRACE", "five"),
    ("POSTMORTEM_DUE", "5"),
    ("POSTMORTEM_REMINDER_AFTER", "-1d"),
    ("QUIET_HOURS", "22-08"),
    ("WORKING_HOURS", "9:00-25:00"),
    ("OUTBOX_RETENTION", "30"),
]


@pytest.mark.parametrize(("variable", "value"), MALFORMED)
def test_a_malformed_setting_names_the_variable_with_an_example(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(**{variable: value})
    problems = [p for p in caught.value.problems if p.variable == variable]
    assert len(problems) == 1, caught.value.problems
    assert problems[0].example, f"{variable}: no example of a good value"
    assert f"for example {variable}=" in str(caught.value)


def test_every_malformed_setting_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(dict(MALFORMED))
    reported = {p.variable for p in caught.value.problems}
    assert reported == {variable for variable, _ in MALFORMED}
    text = str(caught.value)
    assert f"{len(caught.value.problems)} problem(s)" in text
    assert text.count("\n  - ") == len(caught.value.problems)  # one line each


def test_missing_required_settings_are_reported_together_with_examples() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"POLL_INTERVAL": "15"})
    variables = {p.variable for p in caught.value.problems}
    assert variables == {
        "NOTION_TOKEN",
        "SLACK_BOT_TOKEN",
        "NOTION_INCIDENTS_DATABASE_ID",
        "SLACK_CHANNEL_ID",
        "POLL_INTERVAL",
    }
    assert all(p.example for p in caught.value.problems)


@pytest.mark.parametrize(
    "variable",
    [
        "NOTION_INCIDENTS_DATABASE_ID",
        "POSTMORTEM_DATABASE_ID",
        "SLACK_CHANNEL_ID",
    ],
)
@pytest.mark.parametrize("token", [NOTION_TOKEN, SLACK_TOKEN])
def test_a_token_pasted_into_an_id_setting_is_not_echoed(variable: str, token: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(**{variable: token})
    assert variable in str(caught.value)
    assert token not in str(caught.value)
    assert token not in repr(caught.value.problems)


@pytest.mark.parametrize(
    "url",
    [
        "state.db",
        f"postgres ql://worker:{DB_PASSWORD}@db/incidents",
        f"postgresql://worker:{DB_PASSWORD}@db:notaport/incidents",
        f"mysql://worker:{DB_PASSWORD}@db/incidents",
        "https://example.com/state",
    ],
)
def test_an_unusable_database_url_is_a_setting_problem(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(DATABASE_URL=url)
    assert [p.variable for p in caught.value.problems] == ["DATABASE_URL"]
    assert "for example DATABASE_URL=" in str(caught.value)
    assert DB_PASSWORD not in str(caught.value)


def _secret_settings() -> Settings:
    return settings(
        NOTION_TOKEN=NOTION_TOKEN, SLACK_BOT_TOKEN=SLACK_TOKEN, DATABASE_URL=DATABASE_URL
    )


SECRETS = (NOTION_TOKEN, SLACK_TOKEN, DB_PASSWORD)


def _leaks(text: str) -> list[str]:
    return [secret[:12] + "…" for secret in SECRETS if secret in text]


def test_settings_never_show_their_secrets() -> None:
    s = _secret_settings()
    shown = [
        repr(s),
        str(s),
        f"{s}",
        "%s %r" % (s, s),  # noqa: UP031 - the old formatting must not show them either
        repr(dataclasses.asdict(s)),
        repr(s.notion_token),
        f"{s.slack_bot_token}",
        str(s.database_url),
    ]
    assert _leaks("\n".join(shown)) == []
    assert s.notion_token.reveal() == NOTION_TOKEN  # the value is still there to use


def test_a_misplaced_token_is_never_echoed_by_a_setting_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"NOTION_TOKEN": SLACK_TOKEN, "SLACK_BOT_TOKEN": NOTION_TOKEN})
    assert _leaks(str(caught.value) + repr(caught.value.problems)) == []


# --- several Incidents databases --------------------------------------------------------

PAYMENTS = "11111111111111111111111111111111"
PLATFORM = "22222222222222222222222222222222"
SECURITY = "33333333333333333333333333333333"


def _dashed(compact: str) -> str:
    return normalize_notion_id(compact)


def test_one_database_is_the_one_of_the_setting_with_its_channel() -> None:
    one = settings()
    assert not one.several_databases
    assert [(d.id, d.channel) for d in one.incident_databases] == [
        (one.notion_database_id, "C0INCIDENTS")
    ]


def test_several_databases_each_go_to_their_route_or_to_the_incidents_channel() -> None:
    several = settings(
        NOTION_INCIDENTS_DATABASE_ID=f"{PAYMENTS}, {PLATFORM},{SECURITY}",
        INCIDENT_ROUTES=f"{PLATFORM}=C0PLATFORM,https://www.notion.so/x/{SECURITY}?v=1=C0SECURITY",
    )
    assert several.several_databases
    assert [(d.id, d.channel) for d in several.incident_databases] == [
        (_dashed(PAYMENTS), "C0INCIDENTS"),  # not routed: SLACK_CHANNEL_ID
        (_dashed(PLATFORM), "C0PLATFORM"),
        (_dashed(SECURITY), "C0SECURITY"),
    ]
    assert several.notion_database_id == _dashed(PAYMENTS)  # the first, where `setup` looks


def test_a_route_for_a_database_not_listed_says_what_to_do() -> None:
    with pytest.raises(ConfigError) as caught:
        settings(
            NOTION_INCIDENTS_DATABASE_ID=PAYMENTS,
            INCIDENT_ROUTES=f"{PLATFORM}=C0PLATFORM",
        )
    (problem,) = caught.value.problems
    assert problem.variable == "INCIDENT_ROUTES"
    assert problem.problem == (
        f"routes {_dashed(PLATFORM)}, which NOTION_INCIDENTS_DATABASE_ID does not list; add it "
        f"there (NOTION_INCIDENTS_DATABASE_ID={_dashed(PAYMENTS)},{_dashed(PLATFORM)}) or remove "
        "its route"
    )


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("INCIDENT_ROUTES", f"{PLATFORM}:C0PLATFORM", "should look like <database id>=<channel"),
        ("INCIDENT_ROUTES", f"{PLATFORM}=#platform", "should be a channel id (C…), not a name"),
        ("INCIDENT_ROUTES", f"{PLATFORM}=C0PLATFORM,{PLATFORM}=C0OTHER", "routes"),
        ("NOTION_INCIDENTS_DATABASE_ID", f"{PAYMENTS},{PAYMENTS}", "more than once"),
        ("NOTION_INCIDENTS_DATABASE_ID", f"{PAYMENTS},nope", "'nope' is not a Notion id"),
    ],
)
def test_malformed_database_lists_and_routes_are_refused(
    variable: str, value: str, said: str
) -> None:
    env = {"NOTION_INCIDENTS_DATABASE_ID": f"{PAYMENTS},{PLATFORM}", variable: value}
    with pytest.raises(ConfigError) as caught:
        settings(**env)
    assert [p.variable for p in caught.value.problems] == [variable]
    assert said in caught.value.problems[0].problem


def test_with_every_database_routed_the_incidents_channel_may_be_left_out() -> None:
    routed = settings(
        NOTION_INCIDENTS_DATABASE_ID=f"{PAYMENTS},{PLATFORM}",
        INCIDENT_ROUTES=f"{PAYMENTS}=C0PAYMENTS,{PLATFORM}=C0PLATFORM",
        SLACK_CHANNEL_ID="",
    )
    assert [d.channel for d in routed.incident_databases] == ["C0PAYMENTS", "C0PLATFORM"]
    with pytest.raises(ConfigError) as caught:  # one without a route needs the channel
        settings(
            NOTION_INCIDENTS_DATABASE_ID=f"{PAYMENTS},{PLATFORM}",
            INCIDENT_ROUTES=f"{PAYMENTS}=C0PAYMENTS",
            SLACK_CHANNEL_ID="",
        )
    assert [p.variable for p in caught.value.problems] == ["SLACK_CHANNEL_ID"]


def test_a_database_sees_the_settings_with_its_own_id_and_channel() -> None:
    several = settings(
        NOTION_INCIDENTS_DATABASE_ID=f"{PAYMENTS},{PLATFORM}",
        INCIDENT_ROUTES=f"{PLATFORM}=C0PLATFORM",
        POSTMORTEM_DATABASE_ID=SECURITY,
    )
    payments, platform = (several.for_database(d) for d in several.incident_databases)
    assert (payments.notion_database_id, payments.slack_channel_id) == (
        _dashed(PAYMENTS),
        "C0INCIDENTS",
    )
    assert (platform.notion_database_id, platform.slack_channel_id) == (
        _dashed(PLATFORM),
        "C0PLATFORM",
    )
    assert not platform.several_databases  # each database's worker sees one database
    # The Postmortems database's relation points at one Incidents database: the first.
    assert payments.postmortem_database_id == _dashed(SECURITY)
    assert platform.postmortem_database_id is None
