"""The command line with bad input: plain errors and non-zero exits, never a traceback or a secret.

Each test runs `python -m worker …` in a child process, in an empty folder (no `.env`), with
only the variables it sets plus PATH, HOME and NO_PROXY.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Harness, fast_options
from tests.factories import settings
from worker.check import CheckResult
from worker.cli import STARTUP_RETRIES_S, _refuse_on_problems
from worker.errors import WorkerError
from worker.sandbox import Sandbox

WRONG_NOTION_TOKEN = "ntn_" + "W" * 46
DB_PASSWORD = "Sup3r-S3cret-Pa55"
UNREACHABLE_DB = f"postgresql://worker:{DB_PASSWORD}@127.0.0.1:1/incidents"


def cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`incident-worker ARGS` with exactly this environment; stdout and stderr captured."""
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    # One sandbox for the module: the commands here only read it (and join the channel).
    with Sandbox(fast_options()) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def database_id(box: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> str:
    harness = Harness(box, tmp_path_factory.mktemp("harness"))
    harness.close()
    return harness.database_id


@pytest.fixture
def workspace(box: Sandbox, database_id: str, tmp_path: Path) -> dict[str, str]:
    """A set-up Incidents database in the sandbox, as the variables of a working `.env`."""
    return {
        **box.worker_env(database_id),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "NOTION_REQUESTS_PER_SECOND": "1000",
        "SLACK_POSTS_PER_SECOND": "1000",
    }


def _secrets(box: Sandbox) -> list[str]:
    return [
        box.workspace.notion_token,
        box.workspace.slack_token,
        WRONG_NOTION_TOKEN,
        DB_PASSWORD,
        *(p.notion_token for p in box.workspace.people),
        *(p.slack_token for p in box.workspace.people),
    ]


def _leaks(box: Sandbox, text: str) -> list[str]:
    return [secret[:10] + "…" for secret in _secrets(box) if secret in text]


# --- settings -------------------------------------------------------------------------------

BAD_SETTINGS = {
    # NOTION_TOKEN and SLACK_CHANNEL_ID are missing; the rest is malformed.
    "SLACK_BOT_TOKEN": "xoxp-a-user-token",
    "NOTION_INCIDENTS_DATABASE_ID": "Incidents",
    "POLL_INTERVAL": "15",
    "TIMEZONE": "Mars/Olympus_Mons",
    "LOG_FORMAT": "xml",
    "DATABASE_URL": "state.db",
}
REPORTED = ("NOTION_TOKEN", "SLACK_CHANNEL_ID", *BAD_SETTINGS)


@pytest.mark.parametrize(("command", "exit_code"), [("check", 1), ("run", 2)])
def test_every_settings_problem_is_printed_at_once_with_an_example(
    tmp_path: Path, command: str, exit_code: int
) -> None:
    result = cli(tmp_path, command, **BAD_SETTINGS)
    assert result.returncode == exit_code
    output = _output(result)
    assert "Traceback" not in output
    for variable in REPORTED:
        lines = [line for line in output.splitlines() if f"{variable}:" in line]
        assert len(lines) == 1, (variable, output)
        assert f"(for example {variable}=" in lines[0]
    assert "xoxp-a-user-token" not in output  # a token in the wrong place is not echoed
    assert not (tmp_path / "state.db").exists()  # nothing was started


# --- tokens ---------------------------------------------------------------------------------


def test_check_with_everything_in_place_passes_and_shows_no_secret(
    box: Sandbox, workspace: dict[str, str], tmp_path: Path
) -> None:
    result = cli(tmp_path, "check", **workspace)
    assert result.returncode == 0, _output(result)
    assert "everything is in place" in result.stdout
    assert _leaks(box, _output(result)) == []


def _check_without(
    box: Sandbox, workspace: dict[str, str], tmp_path: Path, scope: str
) -> subprocess.CompletedProcess[str]:
    granted = box.slack.bot_scopes
    box.slack.set_bot_scopes(granted - {scope})
    try:
        return cli(tmp_path, "check", **workspace)
    finally:
        box.slack.set_bot_scopes(granted)


def test_check_names_a_scope_the_worker_cannot_do_without(
    box: Sandbox, workspace: dict[str, str], tmp_path: Path
) -> None:
    result = _check_without(box, workspace, tmp_path, "channels:history")
    assert result.returncode == 1
    [line] = [line for line in result.stdout.splitlines() if "Slack channel" in line]
    assert line.startswith("FAIL")
    assert "public and the app lacks the scope channels:history" in line
    assert "reinstall" in line


def test_check_warns_when_people_can_only_be_named_not_mentioned(
    box: Sandbox, workspace: dict[str, str], tmp_path: Path
) -> None:
    result = _check_without(box, workspace, tmp_path, "users:read.email")
    assert result.returncode == 0, _output(result)
    [line] = [line for line in result.stdout.splitlines() if "Slack token" in line]
    assert line.startswith("warn")
    assert "users:read.email" in line
    assert "1 warning" in result.stdout


def test_check_json_names_the_wrong_token_and_shows_no_secret(
    box: Sandbox, workspace: dict[str, str], tmp_path: Path
) -> None:
    env = dict(workspace, NOTION_TOKEN=WRONG_NOTION_TOKEN)
    result = cli(tmp_path, "check", "--json", **env)
    assert result.returncode == 1
    results = {r["name"]: r for r in json.loads(result.stdout)}
    assert not results["Notion token"]["ok"]
    assert (
        "401" in results["Notion token"]["detail"]
        or "unauthorized" in (results["Notion token"]["detail"])
    )
    assert results["Slack token"]["ok"]
    assert _leaks(box, _output(result)) == []


def test_run_refuses_to_start_with_a_wrong_token(
    box: Sandbox, workspace: dict[str, str], tmp_path: Path
) -> None:
    env = dict(workspace, NOTION_TOKEN=WRONG_NOTION_TOKEN, LOG_FORMAT="json")
    result = cli(tmp_path, "run", **env)
    assert result.returncode == 1
    assert "not starting" in result.stderr
    assert "FAIL  Notion token" in result.stderr
    assert "Traceback" not in _output(result)
    assert _leaks(box, _output(result)) == []


def test_once_logs_json_lines_without_secrets(
    box: Sandbox, workspace: dict[str, str], tmp_path: Path
) -> None:
    result = cli(tmp_path, "once", LOG_FORMAT="json", **workspace)
    assert result.returncode == 0, _output(result)
    assert "poll:" in result.stdout
    entries = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert entries, "no log lines at all"
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert _leaks(box, _output(result)) == []


# --- the state store --------------------------------------------------------------------------


def _corrupt_state(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    state = tmp_path / "state.db"
    state.write_bytes(b"this is no SQLite database \x00\xff" * 200)
    return env


def test_check_reports_a_corrupted_state_file(workspace: dict[str, str], tmp_path: Path) -> None:
    result = cli(tmp_path, "check", **_corrupt_state(tmp_path, workspace))
    assert result.returncode == 1
    assert "Traceback" not in _output(result)
    (line,) = [x for x in result.stdout.splitlines() if "state store" in x]
    assert line.startswith("FAIL")
    assert "DATABASE_URL" in line
    assert "not a database" in line


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("once",), "corrupted"),
        (("run", "--skip-checks"), "corrupted"),
        (("once",), "no templates"),
    ],
)
def test_a_broken_store_or_template_folder_is_a_plain_error(
    workspace: dict[str, str], tmp_path: Path, args: tuple[str, ...], problem: str
) -> None:
    env = dict(workspace)
    if problem == "corrupted":
        _corrupt_state(tmp_path, env)
        variable = "DATABASE_URL"
    else:
        (tmp_path / "templates").mkdir()  # a folder without en/
        env["TEMPLATES_DIR"] = str(tmp_path / "templates")
        variable = "TEMPLATES_DIR"
    result = cli(tmp_path, *args, **env)
    assert result.returncode != 0
    assert "Traceback" not in _output(result)
    assert result.stderr.startswith("incident-worker: ")
    assert variable in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        f"mysql://worker:{DB_PASSWORD}@127.0.0.1:1/incidents",
        f"postgresql://worker:{DB_PASSWORD}@127.0.0.1:notaport/incidents",
    ],
)
def test_check_explains_an_unusable_database_url(
    box: Sandbox, workspace: dict[str, str], tmp_path: Path, url: str
) -> None:
    result = cli(tmp_path, "check", **dict(workspace, DATABASE_URL=url))
    assert result.returncode == 1
    assert "Traceback" not in _output(result)
    assert any("DATABASE_URL" in line and "FAIL" in line for line in result.stdout.splitlines())
    assert _leaks(box, _output(result)) == []


@pytest.mark.parametrize("command", ["check", "once"])
def test_an_unreachable_database_never_shows_its_password(
    box: Sandbox, workspace: dict[str, str], tmp_path: Path, command: str
) -> None:
    env = dict(workspace, DATABASE_URL=UNREACHABLE_DB, LOG_FORMAT="json")
    result = cli(tmp_path, command, **env)
    assert result.returncode != 0
    assert "127.0.0.1" in _output(result)  # the error is there, explained …
    assert _leaks(box, _output(result)) == []  # … without the password


def test_migrate_on_a_dyno_without_postgres_fails_the_release(tmp_path: Path) -> None:
    result = cli(tmp_path, "migrate", DYNO="release.1")
    assert result.returncode != 0
    assert "DATABASE_URL" in _output(result)
    assert "Heroku Postgres" in _output(result)
    assert "Traceback" not in _output(result)
    assert not (tmp_path / "state.db").exists()


# --- .env.example copied as is, and previews ---------------------------------------------------

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


@pytest.mark.parametrize(("command", "exit_code"), [("check", 1), ("run", 2)])
def test_env_example_copied_as_is_names_every_placeholder_still_in_it(
    tmp_path: Path, command: str, exit_code: int
) -> None:
    (tmp_path / ".env").write_text(ENV_EXAMPLE.read_text("utf-8"), "utf-8")
    result = cli(tmp_path, command)
    assert result.returncode == exit_code
    output = _output(result)
    assert "Traceback" not in output
    for variable, placeholder in (
        ("NOTION_TOKEN", "ntn_..."),
        ("SLACK_BOT_TOKEN", "xoxb-..."),
        ("SLACK_CHANNEL_ID", "C0123456789"),
    ):
        [line] = [line for line in output.splitlines() if f"{variable}:" in line]
        assert f"still holds the placeholder from .env.example ({placeholder})" in line
    [line] = [line for line in output.splitlines() if "NOTION_INCIDENTS_DATABASE_ID:" in line]
    assert "is not set" in line
    assert not (tmp_path / "state.db").exists()


def test_render_timeline_sample_shows_its_entries(tmp_path: Path) -> None:
    result = cli(tmp_path, "render", "timeline", "--sample", "basic")
    assert result.returncode == 0, _output(result)
    entries = result.stdout.split("## Entries", 1)[1]
    assert "Incident declared: Checkout payments failing" in entries
    assert "Commander: Aiko Tanaka → Ben Carter" in entries
    assert "Resolved" in entries


class _Stopping(threading.Event):
    """The startup's stop event, recording how long it was asked to wait (never set)."""

    def __init__(self) -> None:
        super().__init__()
        self.waited: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waited.append(timeout or 0.0)
        return False


def _rate_limited(wait_s: float | None) -> list[CheckResult]:
    return [CheckResult("Notion database", False, "rate limited", transient=True, wait_s=wait_s)]


def test_startup_checks_wait_out_a_rate_limit_however_long_it_lasts() -> None:
    # Notion's workspace limit may ask for minutes, again and again (its "Retry-After for
    # this limit can be longer than a minute"): more waits than the retries for a blip.
    answers = iter([*(_rate_limited(300.0) for _ in range(6)), [CheckResult("x", True, "ok")]])
    stopping = _Stopping()
    _refuse_on_problems(settings(), stopping, run_checks=lambda _s: next(answers))
    assert stopping.waited == [300.0] * 6


def test_startup_checks_give_a_blip_a_few_tries_only() -> None:
    answers = iter([_rate_limited(None) for _ in range(6)])
    stopping = _Stopping()
    with pytest.raises(WorkerError, match="not starting"):
        _refuse_on_problems(settings(), stopping, run_checks=lambda _s: next(answers))
    assert stopping.waited == list(STARTUP_RETRIES_S)
