"""Check: is everything in place? One line per check, each problem with how to fix it.

With several Incidents databases, each is checked (readable, its schema, its open
incidents) and each channel they post to; those lines end with the database's name."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from worker.config import IncidentDatabase, Settings
from worker.errors import ConfigError, ServiceError, WorkerError
from worker.messages import Wording
from worker.notion import DataSourceSchema, NotionGateway
from worker.pages.effects import POSTMORTEM_PROPERTIES
from worker.pages.samples import check_templates
from worker.plan import thread_channel
from worker.properties import PROPERTIES, Options
from worker.slack import SlackGateway
from worker.store import SCHEMA_VERSION, Store, describe_open_error


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    # The failure may pass by itself (a timeout, a 5xx, a rate limit): worth a retry.
    transient: bool = False
    # The service asked us to wait this long (its rate limit): check again after that.
    wait_s: float | None = None

    # Worth saying, but the worker works (degraded): `run` starts, `check` still exits 0.
    warning: bool = False

    def line(self) -> str:
        mark = "FAIL" if not self.ok else "warn" if self.warning else "ok  "
        return f"{mark}  {self.name}: {self.detail}"


# The scopes the worker needs for its channel (slack-app-manifest.yml): to post and update,
# and to read the channel and find its own messages again (a public or a private one's).
POSTING_SCOPES = ("chat:write",)
CHANNEL_SCOPES = {
    False: ("channels:read", "channels:history"),
    True: ("groups:read", "groups:history"),
}
# Inbound Slack: the events of notes sent to the timeline (reactions, pins, thread messages)
# and reading a thread's pins and reactions again after the worker was away.
INBOUND_SCOPES = ("reactions:read", "pins:read", "channels:history")
# Without these people are named in messages rather than mentioned: a warning, not a stop.
MENTION_SCOPES = ("users:read", "users:read.email")


def missing_scopes(granted: frozenset[str], *, private: bool) -> list[str]:
    """The scopes without which the worker cannot work in this channel."""
    return [s for s in (*POSTING_SCOPES, *CHANNEL_SCOPES[private]) if s not in granted]


def _scope_list(scopes: list[str]) -> str:
    return f"the scope{'s' if len(scopes) > 1 else ''} {', '.join(scopes)}"


def _named_settings_results(schema: DataSourceSchema, settings: Settings) -> list[CheckResult]:
    """Settings that name status values or properties the database does not have."""
    results: list[CheckResult] = []
    status = schema.properties.get(settings.properties["status"])
    options = status[1] if status else ()
    for variable, values in (
        ("MITIGATED_STATUSES", settings.mitigated_statuses),
        ("RESOLVED_STATUSES", settings.resolved_statuses),
    ):
        missing = [v for v in values if v not in options]
        if status and missing:
            results.append(
                CheckResult(
                    f"setting {variable}",
                    False,
                    f"names {', '.join(repr(m) for m in missing)}, which the “"
                    f"{settings.properties['status']}” property does not offer; "
                    f"use one of {', '.join(options)}",
                )
            )
    for key in settings.mirrored:
        if key.startswith("prop:") and key[5:] not in schema.properties:
            results.append(
                CheckResult(
                    "setting MIRRORED_PROPERTIES",
                    False,
                    f"names “{key[5:]}”, which the database does not have; check the spelling",
                )
            )
    return results


def schema_results(schema: DataSourceSchema, settings: Settings) -> list[CheckResult]:
    """Every configured property present with a usable type and the configured options."""
    results: list[CheckResult] = _named_settings_results(schema, settings)
    for prop in PROPERTIES:
        name = settings.properties[prop.key]
        accepted = prop.accepted
        found = schema.properties.get(name)
        label = f"property “{name}”"
        if found is None:
            results.append(
                CheckResult(
                    label,
                    False,
                    f"missing; if it was renamed, rename it back to “{name}” in Notion or map "
                    f"it with NOTION_PROPERTY_NAMES='{prop.default_name}=<your name>'; "
                    f"otherwise add a {accepted[0]} property named “{name}”",
                )
            )
            continue
        kind, options = found
        if kind not in accepted:
            results.append(
                CheckResult(label, False, f"is {kind}; change it to {' or '.join(accepted)}")
            )
            continue
        # A free-text property (Customer comms may be rich text) has no options to check.
        if kind in ("select", "status") and prop.options is not None:
            results.append(_options_result(label, kind, prop.options, settings, options))
            continue
        results.append(CheckResult(label, True, kind))
    return results


# What the worker writes into a Postmortems database row (`setup --with-postmortems`).
POSTMORTEM_TYPES = {"title": "title", "incident": "relation", "owner": "people", "due": "date"}


def postmortem_schema_results(schema: DataSourceSchema) -> list[CheckResult]:
    """The Postmortems database has the properties the worker fills in, with their types."""
    wanted = {**POSTMORTEM_TYPES, "status": "select"}
    problems: list[str] = []
    for logical, kind in wanted.items():
        name = POSTMORTEM_PROPERTIES[logical]
        found = schema.properties.get(name)
        if found is None:
            problems.append(f"has no {kind} property named “{name}”; add it")
        elif found[0] != kind:
            problems.append(f"“{name}” is {found[0]}; change it to {kind}")
    label = f"Postmortems database ({schema.title or schema.id})"
    if problems:
        # Only postmortems depend on it: the worker runs, and each postmortem it cannot
        # create is said in the incident's thread.
        how = (
            "; postmortems cannot be created there until then (`setup --with-postmortems` "
            "creates a database that fits)"
        )
        return [CheckResult(label, True, "; ".join(problems) + how, warning=True)]
    return [CheckResult(label, True, ", ".join(POSTMORTEM_PROPERTIES.values()))]


def _quoted(values: list[str]) -> str:
    return ", ".join(repr(v) for v in values)


def _options_result(
    label: str, kind: str, spec: Options, settings: Settings, options: tuple[str, ...]
) -> CheckResult:
    """The options the settings name against those the database offers. One the settings
    name and the database lacks stops the worker (nothing would ever match it); one the
    database offers that the settings do not name (renamed, or typed as a new value) is a
    warning: rows set to it are not understood."""
    setting = spec.setting
    wanted = spec.configured(settings)
    missing = [o for o in wanted if o not in options]
    extra = [o for o in options if o not in wanted]
    if missing:
        how = (
            "add them in Notion (the API cannot add status options)"
            if kind == "status"
            else "add them in Notion"
        )
        if extra:
            how = f"but offers {_quoted(extra)}, which {setting} does not name; rename them back"
            how += " in Notion"
        return CheckResult(
            label,
            False,
            f"has no option {_quoted(missing)}{';' if not extra else ''} {how}, or set {setting} "
            f"to the options you use ({', '.join(options)})",
        )
    if extra:
        one = len(extra) == 1
        return CheckResult(
            label,
            True,
            f"offers {_quoted(extra)}, which {setting} does not name, so the worker cannot tell "
            f"what {'it means' if one else 'they mean'}; add {'it' if one else 'them'} to "
            f"{setting}{spec.check_hint}, or rename or remove {'it' if one else 'them'} in Notion",
            warning=True,
        )
    return CheckResult(label, True, kind)


Check = Callable[[], CheckResult | list[CheckResult]]


def _guard(name: str, check: Check) -> list[CheckResult]:
    try:
        result = check()
    except ServiceError as exc:
        wait_s = exc.retry_after_s if exc.asked_to_wait else None
        return [CheckResult(name, False, str(exc), transient=exc.retryable, wait_s=wait_s)]
    except WorkerError as exc:
        return [CheckResult(name, False, str(exc))]
    return result if isinstance(result, list) else [result]


class Checker:
    """Runs the checks in order; later checks are skipped when what they need failed.
    The caller builds the gateways, and hands in how to open the state store (the checks
    open it only to read it, and close it again)."""

    def __init__(
        self,
        settings: Settings,
        notion: NotionGateway,
        slack: SlackGateway,
        open_store: Callable[[], Store],
    ) -> None:
        self.settings = settings
        self.notion = notion
        self.slack = slack
        self.open_store = open_store
        # The Slack token's scopes, once `slack_token` has run (None: Slack did not say).
        self._scopes: frozenset[str] | None = None

    def run(self) -> list[CheckResult]:
        results = _guard("state store", self.store)
        notion_ok = _guard("Notion token", self.notion_token)
        results += notion_ok
        databases = self.settings.incident_databases
        each = [self.for_database(d, first=i == 0) for i, d in enumerate(databases)]
        if all(r.ok for r in notion_ok):
            for checker in each:
                database = _guard("Incidents database", checker.database)
                if all(r.ok for r in database):
                    database += _guard("database schema", checker.schema)
                results += self._of(checker, database)
            if self.settings.postmortem_database_id is not None:
                results += _guard("Postmortems database", self.postmortems)
        slack_ok = _guard("Slack token", self.slack_token)
        results += slack_ok
        if all(r.ok for r in slack_ok):
            for channel in dict.fromkeys(d.channel for d in databases):
                checked = _guard("Slack channel", partial(self.channel, channel))
                routed = [c for c in each if c.settings.slack_channel_id == channel]
                results += self._of(routed, checked)
            results += _guard("Slack inbound", self.inbound)
        for checker in each:
            results += self._of(checker, _guard("open incidents", checker.threads_elsewhere))
        results += _guard("templates", self.templates)
        return results

    def for_database(self, database: IncidentDatabase, *, first: bool) -> Checker:
        """The checks of one Incidents database: its settings, its gateway, its part of
        the state store."""

        def open_store() -> Store:
            return self.open_store().for_database(database.id, first=first)

        settings = self.settings.for_database(database)
        checker = Checker(settings, self.notion.for_database(settings), self.slack, open_store)
        checker._scopes = self._scopes
        return checker

    def _of(
        self, checkers: Checker | list[Checker], results: list[CheckResult]
    ) -> list[CheckResult]:
        """With several databases, each line says which database(s) it is about."""
        if not self.settings.several_databases:
            return results
        named = [checkers] if isinstance(checkers, Checker) else checkers
        which = ", ".join(c.database_name() for c in named)
        return [replace(r, name=f"{r.name} ({which})") for r in results]

    def database_name(self) -> str:
        """The database's title, as `database` read it (its id if it has none, or if it
        could not be read)."""
        database_id = self.settings.notion_database_id
        try:
            return self.notion.database_title(database_id) or database_id
        except ServiceError:
            return database_id

    def store(self) -> CheckResult:
        try:
            store = self.open_store()
        except WorkerError:
            raise  # already says what is wrong (a store newer than this worker)
        except Exception as exc:
            detail = describe_open_error(exc, self.settings.database_url.reveal())
            raise WorkerError(f"cannot open DATABASE_URL ({detail})") from exc
        try:
            version = store.schema_version()
        finally:
            store.close()
        return CheckResult("state store", version == SCHEMA_VERSION, f"schema version {version}")

    def threads_elsewhere(self) -> list[CheckResult]:
        """Open incidents whose threads are in another channel than SLACK_CHANNEL_ID (it was
        changed): they stay there until resolved; the app must keep access to it."""
        try:
            store = self.open_store()
        except (SQLAlchemyError, OSError, WorkerError):
            return []  # the state store check says what is wrong
        try:
            records = store.records("announced") + store.records("adopting")
        finally:
            store.close()
        here = self.settings.slack_channel_id
        elsewhere = Counter(
            thread_channel(r, here)
            for r in records
            if not r.snapshot.in_trash and r.snapshot.status not in self.settings.resolved_statuses
        )
        elsewhere.pop(here, None)
        return [
            CheckResult(
                "open incidents",
                True,
                f"{count} open incident{'s' if count > 1 else ''} keep their threads in {channel} "
                f"until resolved (SLACK_CHANNEL_ID is now {here}, where new incidents go); "
                "keep the app in that channel until then",
                warning=True,
            )
            for channel, count in sorted(elsewhere.items())
        ]

    def notion_token(self) -> CheckResult:
        bot = self.notion.me()
        return CheckResult("Notion token", True, f"integration “{bot.name or bot.id}”")

    def database(self) -> CheckResult:
        ds_id = self.notion.data_source_id()
        return CheckResult(
            "Incidents database", True, f"{self.settings.notion_database_id} (data source {ds_id})"
        )

    def schema(self) -> list[CheckResult]:
        return schema_results(self.notion.schema(), self.settings)

    def postmortems(self) -> list[CheckResult]:
        database = self.settings.postmortem_database_id
        if database is None:
            return []
        return postmortem_schema_results(self.notion.schema(database))

    def slack_token(self) -> CheckResult:
        identity = self.slack.auth()
        self._scopes = identity.scopes
        who = f"bot {identity.user_id} in {identity.team}"
        lacking = [s for s in MENTION_SCOPES if identity.scopes and s not in identity.scopes]
        if lacking:
            return CheckResult(
                "Slack token",
                True,
                f"{who}; without {_scope_list(lacking)} people are named in messages, not "
                "mentioned: add it under OAuth & Permissions and reinstall the app",
                warning=True,
            )
        return CheckResult("Slack token", True, who)

    def inbound(self) -> CheckResult:
        """Whether Slack can reach the worker (Socket Mode, HTTP), and what to do if not."""
        settings = self.settings
        if settings.inbound is None:
            return CheckResult(
                "Slack inbound",
                True,
                "off: the worker only posts. To let people pin notes to the timeline and answer "
                "reminders with buttons, set SLACK_APP_TOKEN (Socket Mode, no public URL) or "
                "SLACK_SIGNING_SECRET (HTTP: Slack posts to https://<host>/slack/events on "
                "`serve`); the README's operator guide has the steps",
            )
        lacking = [s for s in INBOUND_SCOPES if self._scopes and s not in self._scopes]
        also = (
            f"; without {_scope_list(lacking)} notes are not captured: add "
            f"{'it' if len(lacking) == 1 else 'them'} under OAuth & Permissions and reinstall"
            if lacking
            else ""
        )
        if settings.inbound == "socket":
            self.slack.socket_url(settings.slack_app_token.reveal())
            how = "Socket Mode (the app-level token opens a connection)"
        else:
            how = (
                "HTTP events at /slack/events on `serve` (Event Subscriptions and "
                "Interactivity must point there; the signature is checked on each request)"
            )
        return CheckResult("Slack inbound", True, how + also, warning=bool(lacking))

    def channel(self, channel: str | None = None) -> CheckResult:
        channel = channel or self.settings.slack_channel_id
        try:
            info = self.slack.channel_info(channel)
        except ServiceError as exc:
            if exc.code != "missing_scope" or not self._scopes:
                raise
            # Slack describes a private channel only to a token with groups:read, even
            # to a member: one the token's channels:read does not cover is private.
            return self._lacking(channel, private=True) or CheckResult(
                "Slack channel", False, str(exc)
            )
        name = f"#{info.get('name', channel)}"
        if info.get("is_archived"):
            return CheckResult(
                "Slack channel", False, f"{name} is archived; unarchive it or use another channel"
            )
        if not info.get("is_member"):
            try:
                self.slack.join(channel)
            except ServiceError as exc:
                return CheckResult(
                    "Slack channel",
                    False,
                    f"{name}: the app is not a member and cannot join ({exc.code}); "
                    "invite it with /invite @<app name>",
                )
        lacking = self._lacking(name, private=bool(info.get("is_private")))
        return lacking or CheckResult(
            "Slack channel", True, f"{name}: the app is a member and may post"
        )

    def _lacking(self, name: str, *, private: bool) -> CheckResult | None:
        """A failed check naming the scopes the channel needs that the token lacks."""
        missing = missing_scopes(self._scopes, private=private) if self._scopes else []
        if not missing:
            return None
        kind = "private" if private else "public"
        return CheckResult(
            "Slack channel",
            False,
            f"{name} is {kind} and the app lacks {_scope_list(missing)}; add "
            f"{'them' if len(missing) > 1 else 'it'} under OAuth & Permissions "
            "(slack-app-manifest.yml lists them) and reinstall the app",
        )

    def templates(self) -> list[CheckResult]:
        """The Slack wording loads and every page template renders against the samples."""
        settings = self.settings
        where = settings.templates_dir / settings.locale
        try:
            Wording.load(settings.templates_dir, settings.locale)
        except (OSError, ValueError) as exc:
            return [CheckResult("templates", False, f"{where / 'slack.toml'}: {exc}")]
        errors = check_templates(
            settings.templates_dir, settings.locale, timezone=settings.timezone, settings=settings
        )
        if errors:
            return [
                CheckResult("template", False, f"{error}; fix it and run check again")
                for error in errors
            ]
        return [
            CheckResult(
                "templates",
                True,
                f"{where}: every template renders, for every severity and status",
            )
        ]


def settings_results(env: Mapping[str, str]) -> tuple[Settings | None, list[CheckResult]]:
    try:
        settings = Settings.from_env(env)
    except ConfigError as exc:
        return None, [CheckResult(f"setting {p.variable}", False, str(p)) for p in exc.problems]
    return settings, [CheckResult("settings", True, "all present and well-formed")]


def summary(results: list[CheckResult]) -> str:
    problems = sum(1 for r in results if not r.ok)
    warnings = sum(1 for r in results if r.warning)
    if problems:
        return f"{problems} problem(s) found; fix them and run `incident-worker check` again"
    if warnings:
        return f"ready to run, with {warnings} warning(s) above worth fixing"
    return "everything is in place"


def as_json(results: list[CheckResult]) -> list[dict[str, Any]]:
    return [{"name": r.name, "ok": r.ok, "warning": r.warning, "detail": r.detail} for r in results]
