"""Settings: one frozen object built from a mapping (the environment), validated all at once."""

from __future__ import annotations

import re
import site
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from worker.errors import ConfigError, SettingProblem
from worker.properties import (
    DEFAULT_MIRRORED,
    DEFAULT_NAMES,
    OPTION_SETTINGS,
    WORKER_WRITTEN,
    default_options,
)

NOTION_VERSION = "2025-09-03"
# Where `pip install .` puts the templates under the prefix (pyproject.toml's data-files).
INSTALLED_TEMPLATES = "share/notion-incident-worker/templates"


def bundled_templates(package_dir: Path, prefixes: Sequence[Path]) -> Path:
    """The templates shipped with the worker: beside the package in a checkout (and an
    editable install), or under an install prefix after `pip install .` / `--user` / pipx."""
    checkout = package_dir.parent / "templates"
    candidates = [checkout, *(prefix / INSTALLED_TEMPLATES for prefix in prefixes)]
    found = [c for c in candidates if (c / "en" / "slack.toml").is_file()]
    return found[0] if found else checkout


BUNDLED_TEMPLATES = bundled_templates(
    Path(__file__).resolve().parent, [Path(sys.prefix), Path(site.getuserbase())]
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_UUID_HEX = re.compile(r"([0-9a-fA-F]{32})$")


class Secret:
    """A string that never shows itself in `repr`, `str` or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def parse_duration_s(text: str) -> float:
    """'15s' → 15.0, '30m' → 1800.0, '2h', '1d', '500ms'. A unit is always required."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration with a unit (ms, s, m, h or d)")
    return float(match.group(1)) * _UNITS_S[match.group(2)]


def normalize_notion_id(text: str) -> str:
    """Accept a dashed or compact UUID, or a Notion URL, and return the dashed UUID."""
    candidate = text.strip()
    path = urlsplit(candidate).path if "://" in candidate else candidate
    last = path.rstrip("/").rsplit("/", 1)[-1].replace("-", "")
    match = _UUID_HEX.search(last)
    if not match:
        raise ValueError(f"{text!r} is not a Notion id (32 hex digits, dashes optional, or a URL)")
    h = match.group(1).lower()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


# The logical properties the worker knows, with their default names in Notion (their
# registry is worker/properties.py).
DEFAULT_PROPERTY_NAMES: dict[str, str] = dict(DEFAULT_NAMES)


@dataclass(frozen=True)
class PropertyNames:
    """Where each logical property lives in the team's database (name in Notion)."""

    names: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PROPERTY_NAMES))

    def __getitem__(self, logical: str) -> str:
        return self.names[logical]

    def logical_for(self, notion_name: str) -> str | None:
        for logical, name in self.names.items():
            if name == notion_name:
                return logical
        return None


@dataclass(frozen=True)
class IncidentDatabase:
    """One Incidents database the worker follows, and the channel its new incidents go to
    (INCIDENT_ROUTES, else SLACK_CHANNEL_ID)."""

    id: str
    channel: str


@dataclass(frozen=True)
class Settings:
    notion_token: Secret = field(repr=False)
    notion_database_id: str
    slack_bot_token: Secret = field(repr=False)
    slack_channel_id: str
    database_url: Secret = field(repr=False)
    notion_base_url: str = "https://api.notion.com"
    slack_base_url: str = "https://slack.com/api/"
    poll_interval_s: float = 15.0
    poll_overlap_s: float = 60.0
    templates_dir: Path = BUNDLED_TEMPLATES
    locale: Literal["en", "ja"] = "en"
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    update_cadence_s: Mapping[str, float | None] = field(
        default_factory=lambda: {"SEV1": 900.0, "SEV2": 1800.0, "SEV3": 3600.0, "SEV4": None}
    )
    postmortem_database_id: str | None = None
    log_format: Literal["text", "json"] = "text"
    port: int = 8000
    # /healthz turns 503 when no poll succeeded for this long (None: 3 polls + 30 s).
    health_max_age_s: float | None = None
    properties: PropertyNames = field(default_factory=PropertyNames)
    mirrored: tuple[str, ...] = DEFAULT_MIRRORED
    status_options: tuple[str, ...] = default_options("status")
    mitigated_statuses: tuple[str, ...] = ("Monitoring",)
    resolved_statuses: tuple[str, ...] = ("Resolved",)
    severity_options: tuple[str, ...] = default_options("severity")
    customer_comms_options: tuple[str, ...] = default_options("customer_comms")
    broadcast_severities: tuple[str, ...] = ("SEV1",)
    broadcast_resolved: bool = True
    declare_grace_s: float = 120.0
    # How often `run` re-reads the Incidents database's schema to see it still fits.
    schema_check_interval_s: float = 300.0
    # How long a replica's leadership lasts without renewal (None: 3 polls + 10 s, ≥ 30 s).
    lease_ttl_s: float | None = None
    # Done actions of resolved incidents are pruned from the outbox this long after (their
    # keys stay: see worker/store).
    outbox_retention_s: float = 30 * 86400.0
    notion_requests_per_s: float = 3.0
    slack_posts_per_s: float = 1.0
    slack_tier_pacing: bool = True
    notion_timeout_s: float = 30.0
    slack_timeout_s: float = 15.0
    # Nudges.
    nag_interval_s: float = 60.0
    mitigated_cadence_factor: float = 2.0
    escalate_after_nudges: int = 2
    escalate_to: str = "channel"
    commander_grace_s: float = 300.0
    # SEVERITY_GRACE; from the environment it defaults to whatever COMMANDER_GRACE is.
    severity_grace_s: float = 300.0
    postmortem_due_s: float = 5 * 86400.0
    postmortem_reminder_after_s: float = 3 * 86400.0
    postmortem_draft_statuses: tuple[str, ...] = ("Draft",)
    # (start, end) local wall-clock windows; quiet hours also cover weekends when set.
    quiet_hours: tuple[time, time] | None = None
    quiet_severities: tuple[str, ...] = ("SEV3", "SEV4")
    working_hours: tuple[time, time] = (time(9), time(18))
    # Inbound Slack (issue 15): Socket Mode with an app-level token, or HTTP events on
    # `serve` verified with the signing secret; neither: the worker only speaks.
    slack_app_token: Secret = field(default_factory=lambda: Secret(""), repr=False)
    slack_signing_secret: Secret = field(default_factory=lambda: Secret(""), repr=False)
    # The reaction that sends a thread message to the timeline, and which messages go.
    timeline_emoji: str = "pushpin"
    timeline_capture: Literal["pinned", "all", "off"] = "pinned"
    # Every Incidents database (NOTION_INCIDENTS_DATABASE_ID may list several), each with its
    # channel; empty: the one of `notion_database_id`, to `slack_channel_id`.
    databases: tuple[IncidentDatabase, ...] = ()

    @property
    def incident_databases(self) -> tuple[IncidentDatabase, ...]:
        return self.databases or (IncidentDatabase(self.notion_database_id, self.slack_channel_id),)

    @property
    def several_databases(self) -> bool:
        return len(self.incident_databases) > 1

    def for_database(self, database: IncidentDatabase) -> Settings:
        """The settings as one database's worker sees them: its id, and its channel where new
        incidents go. The Postmortems database belongs to the first database (its *Incident*
        relation can point at one data source only): the others' postmortems are child pages
        of their rows."""
        first = self.incident_databases[0].id
        return replace(
            self,
            notion_database_id=database.id,
            slack_channel_id=database.channel,
            databases=(database,),
            postmortem_database_id=self.postmortem_database_id if database.id == first else None,
        )

    @property
    def inbound(self) -> Literal["socket", "http"] | None:
        """How Slack reaches the worker: Socket Mode when an app-level token is set (no public
        URL needed), else HTTP events on `serve` when a signing secret is; None: neither."""
        if self.slack_app_token:
            return "socket"
        if self.slack_signing_secret:
            return "http"
        return None

    @property
    def lease_s(self) -> float:
        if self.lease_ttl_s is not None:
            return self.lease_ttl_s
        # Every pass renews it (and a long pass keeps renewing it as it goes).
        return max(30.0, 3 * self.poll_interval_s + 10.0)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.reveal().startswith("sqlite")

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        require_workspace: bool = True,
        require_durable_store: bool | None = None,
    ) -> Settings:
        """Build settings from `env`; raise ConfigError listing every problem at once.
        `require_durable_store` (default: as `require_workspace`) refuses SQLite on a Heroku
        dyno, whose disk is wiped on every restart."""
        reader = _Reader(env)
        values = _read_all(reader, require_workspace)
        _cross_check(reader, values)
        durable = require_workspace if require_durable_store is None else require_durable_store
        if durable:
            _require_durable_store(reader)
        if reader.problems:
            raise ConfigError(reader.problems)
        return cls(**values)


class _Reader:
    """Reads variables, collecting problems instead of stopping at the first one."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[SettingProblem] = []

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def required(self, name: str, example: str, what: str) -> None:
        if self.raw(name) is None:
            self.problems.append(SettingProblem(name, f"is not set; it is {what}", example))

    def convert(self, name: str, default: Any, convert: Callable[[str], Any], example: str) -> Any:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return convert(value)
        except (ValueError, KeyError, ZoneInfoNotFoundError) as exc:
            self.problems.append(SettingProblem(name, str(exc), example))
            return default


def _secret_token(prefixes: tuple[str, ...], what: str) -> Callable[[str], Secret]:
    def convert(value: str) -> Secret:
        if not value.startswith(prefixes):
            # Never echo the value: it may be a real secret pasted in the wrong place.
            raise ValueError(
                f"does not look like {what} (it should start with {' or '.join(prefixes)})"
            )
        return Secret(value)

    return convert


def _timezone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not a known time zone") from exc


def _choice(*allowed: str) -> Callable[[str], str]:
    def convert(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return convert


def _positive_duration(value: str) -> float:
    seconds = parse_duration_s(value)
    if seconds <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return seconds


def _cadence(value: str) -> dict[str, float | None]:
    cadence: dict[str, float | None] = {"SEV1": 900.0, "SEV2": 1800.0, "SEV3": 3600.0, "SEV4": None}
    for part in _csv(value):
        severity, sep, duration = part.partition("=")
        if not sep or not severity.strip():
            raise ValueError(f"{part!r} should look like SEV1=15m")
        text = duration.strip()
        cadence[severity.strip()] = None if text.lower() == "off" else _positive_duration(text)
    return cadence


def _property_names(value: str) -> PropertyNames:
    names = dict(DEFAULT_PROPERTY_NAMES)
    by_default_name = {v.casefold(): k for k, v in DEFAULT_PROPERTY_NAMES.items()}
    for part in _csv(value):
        default, sep, actual = part.partition("=")
        logical = by_default_name.get(default.strip().casefold())
        if not sep or logical is None or not actual.strip():
            known = ", ".join(DEFAULT_PROPERTY_NAMES.values())
            raise ValueError(f"{part!r} should be <default name>=<your name>; defaults: {known}")
        names[logical] = actual.strip()
    return PropertyNames(names)


def _database_url(value: str) -> Secret:
    """A SQLite or PostgreSQL URL; the value is never echoed (it may hold a password)."""
    problem = "is not a SQLite or PostgreSQL URL (sqlite:///state.db or postgresql://user@host/db)"
    try:
        url = make_url(value)
        url.port  # noqa: B018 - parsing the port is what tells a bad one
    except (ArgumentError, ValueError):
        raise ValueError(problem) from None
    backend = url.drivername.split("+")[0]
    if backend not in ("sqlite", "postgres", "postgresql"):
        raise ValueError(problem)
    return Secret(value)


def _looks_secret(value: str) -> bool:
    return value.startswith(("ntn_", "secret_", "xox")) or "://" in value


def _port(value: str) -> int:
    port = int(value)
    if not 0 < port < 65536:
        raise ValueError(f"{value!r} is not a TCP port")
    return port


def _notion_id(value: str) -> str:
    try:
        return normalize_notion_id(value)
    except ValueError:
        if _looks_secret(value):  # a token pasted into the wrong variable: never echo it
            raise ValueError(
                "is not a Notion id, and it looks like a token: check which value went where"
            ) from None
        raise


# What .env.example holds until someone pastes the real values in.
ENV_EXAMPLE_PLACEHOLDERS = {
    "NOTION_TOKEN": "ntn_...",
    "SLACK_BOT_TOKEN": "xoxb-...",
    "SLACK_CHANNEL_ID": "C0123456789",
}


def _placeholder(r: _Reader, name: str, report: bool) -> bool:
    """Whether `name` still holds .env.example's placeholder; said (when `report`) without
    echoing the value, which might be a real token with a stray '...'."""
    value = r.raw(name)
    placeholder = ENV_EXAMPLE_PLACEHOLDERS[name]
    if value is None or (value != placeholder and "..." not in value):
        return False
    if report:
        what = {name: w for name, _, w in _REQUIRED}[name]
        r.problems.append(
            SettingProblem(
                name,
                f"still holds the placeholder from .env.example ({placeholder}); put {what} here",
            )
        )
    return True


def _token(r: _Reader, name: str, prefixes: tuple[str, ...], what: str, report: bool) -> Secret:
    if _placeholder(r, name, report):
        return Secret("")
    example = ENV_EXAMPLE_PLACEHOLDERS[name]
    token: Secret = r.convert(name, Secret(""), _secret_token(prefixes, what), example)
    return token


def _read_all(r: _Reader, require_workspace: bool) -> dict[str, Any]:
    ids: tuple[str, ...] = r.convert("NOTION_INCIDENTS_DATABASE_ID", (), _notion_ids, "<32 hex>")
    routes: dict[str, str] = r.convert("INCIDENT_ROUTES", {}, _routes, _ROUTES_EXAMPLE)
    values: dict[str, Any] = {
        "notion_token": _token(
            r, "NOTION_TOKEN", ("ntn_", "secret_"), "a Notion integration token", require_workspace
        ),
        "slack_bot_token": _token(
            r, "SLACK_BOT_TOKEN", ("xoxb-",), "a Slack bot token", require_workspace
        ),
        "notion_database_id": ids[0] if ids else "",
        "slack_channel_id": r.raw("SLACK_CHANNEL_ID") or "",
    }
    if require_workspace:
        _require_workspace(r, every_database_routed=bool(ids) and set(ids) <= set(routes))
    values["databases"] = _databases(r, ids, routes, values["slack_channel_id"])
    if not values["slack_channel_id"] and values["databases"]:
        # Every database has a channel of its own: the first one's stands for "the channel".
        values["slack_channel_id"] = values["databases"][0].channel
    values.update(_read_runtime(r))
    values.update(_read_schema(r))
    values.update(_read_nudges(r))
    values.update(_read_inbound(r))
    return values


_REQUIRED = (
    ("NOTION_TOKEN", "ntn_...", "the Notion integration's secret"),
    ("SLACK_BOT_TOKEN", "xoxb-...", "the Slack app's bot token"),
    (
        "NOTION_INCIDENTS_DATABASE_ID",
        "<32 hex>",
        "the Incidents database (`incident-worker setup` prints it)",
    ),
    ("SLACK_CHANNEL_ID", "C0123456789", "the incidents channel's id"),
)


def _require_durable_store(r: _Reader) -> None:
    url = r.raw("DATABASE_URL") or ""
    if r.raw("DYNO") and (not url or url.startswith("sqlite")):
        said = "is not set" if not url else "is SQLite"
        r.problems.append(
            SettingProblem(
                "DATABASE_URL",
                f"{said} on a Heroku dyno, whose disk is wiped on every restart; "
                "add Heroku Postgres (it sets DATABASE_URL)",
                "postgres://...",
            )
        )


def _require_workspace(r: _Reader, *, every_database_routed: bool = False) -> None:
    for name, example, what in _REQUIRED:
        if name == "SLACK_CHANNEL_ID" and every_database_routed:
            continue  # INCIDENT_ROUTES gives every database its channel
        r.required(name, example, what)
    channel = r.raw("SLACK_CHANNEL_ID")
    if _placeholder(r, "SLACK_CHANNEL_ID", True):
        return
    if channel and not _CHANNEL_ID.fullmatch(channel):
        r.problems.append(
            SettingProblem(
                "SLACK_CHANNEL_ID",
                "should be a channel id (C…), not a name; copy it from the channel's details",
                "C0123456789",
            )
        )


_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{6,}")
_ROUTES_EXAMPLE = '"<database id>=C0123456789,<database id>=C0987654321"'


def _notion_ids(value: str) -> tuple[str, ...]:
    """NOTION_INCIDENTS_DATABASE_ID: one database, or several separated by commas."""
    ids = tuple(_notion_id(part) for part in _csv(value))
    if not ids:
        raise ValueError("names no database")
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ValueError(f"lists {', '.join(twice)} more than once")
    return ids


def _routes(value: str) -> dict[str, str]:
    """INCIDENT_ROUTES: "<database id>=<channel id>,…" → {database id: channel id}."""
    routes: dict[str, str] = {}
    for part in _csv(value):
        # A database may be given as its URL, whose query string can hold an "=" too.
        database, sep, channel = part.rpartition("=")
        if not sep or not database.strip():
            raise ValueError(f"{part!r} should look like <database id>=<channel id>")
        database_id = _notion_id(database.strip())
        channel = channel.strip()
        if not _CHANNEL_ID.fullmatch(channel):
            raise ValueError(
                f"{channel!r} should be a channel id (C…), not a name; copy it from the "
                "channel's details"
            )
        if database_id in routes:
            raise ValueError(f"routes {database_id} twice")
        routes[database_id] = channel
    return routes


def _databases(
    r: _Reader, ids: tuple[str, ...], routes: Mapping[str, str], default_channel: str
) -> tuple[IncidentDatabase, ...]:
    """Each database with its channel: its route, else SLACK_CHANNEL_ID. A route for a
    database that is not listed would silently never be used: it is a problem."""
    unknown = [database for database in routes if database not in ids]
    if unknown and ids:
        one = len(unknown) == 1
        listed = ",".join([*ids, *unknown])
        r.problems.append(
            SettingProblem(
                "INCIDENT_ROUTES",
                f"routes {', '.join(unknown)}, which NOTION_INCIDENTS_DATABASE_ID does not list; "
                f"add {'it' if one else 'them'} there (NOTION_INCIDENTS_DATABASE_ID={listed}) "
                f"or remove {'its route' if one else 'their routes'}",
                _ROUTES_EXAMPLE,
            )
        )
    return tuple(IncidentDatabase(i, routes.get(i, default_channel)) for i in ids)


def _read_inbound(r: _Reader) -> dict[str, Any]:
    """Inbound Slack: how events reach the worker, and what goes to the timeline."""
    return {
        "slack_app_token": r.convert(
            "SLACK_APP_TOKEN",
            Secret(""),
            _secret_token(("xapp-",), "a Slack app-level token"),
            "xapp-...",
        ),
        "slack_signing_secret": r.convert(
            "SLACK_SIGNING_SECRET", Secret(""), _signing_secret, "<the app's signing secret>"
        ),
        "timeline_emoji": r.convert("TIMELINE_EMOJI", "pushpin", _emoji_name, "pushpin"),
        "timeline_capture": r.convert(
            "TIMELINE_CAPTURE", "pinned", _choice("pinned", "all", "off"), "pinned"
        ),
    }


_SIGNING_SECRET = re.compile(r"[0-9a-f]{16,}")
_EMOJI_NAME = re.compile(r"[a-z0-9_+\-']+")


def _signing_secret(value: str) -> Secret:
    if not _SIGNING_SECRET.fullmatch(value):
        # Never echo it: it is the secret itself.
        raise ValueError(
            "does not look like a signing secret (hex digits, from the app's Basic Information "
            "page, App Credentials)"
        )
    return Secret(value)


def _emoji_name(value: str) -> str:
    """`pushpin`, `:pushpin:` or `:pushpin::skin-tone-2:` → the name Slack's events carry."""
    name = value.strip().strip(":").split("::", 1)[0].casefold()
    if not _EMOJI_NAME.fullmatch(name):
        raise ValueError(f"{value!r} is not an emoji name such as pushpin or :round_pushpin:")
    return name


def _read_runtime(r: _Reader) -> dict[str, Any]:
    return {
        "database_url": r.convert(
            "DATABASE_URL", Secret("sqlite:///state.db"), _database_url, "sqlite:///state.db"
        ),
        "notion_base_url": r.convert(
            "NOTION_BASE_URL", "https://api.notion.com", _base_url(False), "https://api.notion.com"
        ),
        "slack_base_url": r.convert(
            "SLACK_BASE_URL", "https://slack.com/api/", _base_url(True), "https://slack.com/api/"
        ),
        "poll_interval_s": r.convert("POLL_INTERVAL", 15.0, _positive_duration, "15s"),
        "poll_overlap_s": r.convert("POLL_OVERLAP", 60.0, parse_duration_s, "60s"),
        "templates_dir": r.convert("TEMPLATES_DIR", BUNDLED_TEMPLATES, _directory, "./templates"),
        "locale": r.convert("LOCALE", "en", _choice("en", "ja"), "en"),
        "timezone": r.convert("TIMEZONE", ZoneInfo("UTC"), _timezone, "Asia/Tokyo"),
        "postmortem_database_id": r.convert("POSTMORTEM_DATABASE_ID", None, _notion_id, "<32 hex>"),
        "log_format": r.convert("LOG_FORMAT", "text", _choice("text", "json"), "json"),
        "port": r.convert("PORT", 8000, _port, "8000"),
        "health_max_age_s": r.convert("HEALTH_MAX_AGE", None, _positive_duration, "2m"),
        "notion_requests_per_s": r.convert("NOTION_REQUESTS_PER_SECOND", 3.0, _positive_float, "3"),
        "slack_posts_per_s": r.convert("SLACK_POSTS_PER_SECOND", 1.0, _positive_float, "1"),
        "slack_tier_pacing": r.convert("SLACK_TIER_PACING", True, _bool, "on"),
        "notion_timeout_s": r.convert("NOTION_TIMEOUT", 30.0, _positive_duration, "30s"),
        "slack_timeout_s": r.convert("SLACK_TIMEOUT", 15.0, _positive_duration, "15s"),
        "declare_grace_s": r.convert("DECLARE_GRACE", 120.0, parse_duration_s, "2m"),
        "schema_check_interval_s": r.convert(
            "SCHEMA_CHECK_INTERVAL", 300.0, _positive_duration, "5m"
        ),
        "lease_ttl_s": r.convert("LEASE_TTL", None, _positive_duration, "60s"),
        "outbox_retention_s": r.convert(
            "OUTBOX_RETENTION", 30 * 86400.0, _positive_duration, "30d"
        ),
    }


def _read_schema(r: _Reader) -> dict[str, Any]:
    properties: PropertyNames = r.convert(
        "NOTION_PROPERTY_NAMES", PropertyNames(), _property_names, '"Status=State,Commander=IC"'
    )
    mirrored_names = r.convert("MIRRORED_PROPERTIES", None, _csv, '"Name,Status,Severity"')
    mirrored = DEFAULT_MIRRORED
    if mirrored_names is not None:
        mirrored = _mirrored(r, properties, mirrored_names)
    return {
        "properties": properties,
        "mirrored": mirrored,
        "mitigated_statuses": r.convert("MITIGATED_STATUSES", ("Monitoring",), _csv, "Monitoring"),
        "resolved_statuses": r.convert("RESOLVED_STATUSES", ("Resolved",), _csv, "Resolved"),
        # STATUS_OPTIONS and the other settings naming a property's values.
        **{
            o.settings_field: r.convert(o.setting, o.default, _csv, ",".join(o.default))
            for o in OPTION_SETTINGS
        },
        "broadcast_severities": r.convert("BROADCAST_SEVERITIES", ("SEV1",), _csv, "SEV1"),
        "broadcast_resolved": r.convert("BROADCAST_RESOLVED", True, _bool, "true"),
        "update_cadence_s": r.convert(
            "UPDATE_CADENCE",
            {"SEV1": 900.0, "SEV2": 1800.0, "SEV3": 3600.0, "SEV4": None},
            _cadence,
            "SEV1=15m,SEV2=30m,SEV3=60m,SEV4=off",
        ),
    }


_CADENCE_EXAMPLE = ("15m", "30m", "60m", "off")


def _cadence_example(severities: tuple[str, ...]) -> str:
    steps = [_CADENCE_EXAMPLE[min(i, len(_CADENCE_EXAMPLE) - 1)] for i in range(len(severities))]
    return ",".join(f"{s}={step}" for s, step in zip(severities, steps, strict=True))


def _named_in_cadence(text: str | None) -> tuple[str, ...]:
    return tuple(part.partition("=")[0].strip() for part in _csv(text or ""))


def _one_of(
    r: _Reader, variable: str, named: tuple[str, ...], options: tuple[str, tuple[str, ...]]
) -> None:
    """Every value `variable` names must be one of `options` (the setting that lists them,
    and its values): a misspelt or renamed value would silently never match."""
    options_variable, allowed = options
    unknown = [v for v in named if v not in allowed]
    if not unknown:
        return
    one = len(unknown) == 1
    said, fix = "names", f"use those names, or add {'it' if one else 'them'} to {options_variable}"
    if r.raw(variable) is None:
        said, fix = "is not set, and its default names", f"set {variable} to the ones that apply"
    r.problems.append(
        SettingProblem(
            variable,
            f"{said} {', '.join(unknown)}, which {'is' if one else 'are'} not among "
            f"{options_variable} ({', '.join(allowed)}); {fix}",
            _example_for(variable, allowed),
        )
    )


def _example_for(variable: str, allowed: tuple[str, ...]) -> str:
    return {
        "UPDATE_CADENCE": _cadence_example(allowed),
        "BROADCAST_SEVERITIES": allowed[0],
        "QUIET_SEVERITIES": ",".join(allowed[-2:]),
        "MITIGATED_STATUSES": allowed[-2] if len(allowed) > 1 else allowed[0],
    }.get(variable, allowed[-1])


def _cross_check(r: _Reader, values: Mapping[str, Any]) -> None:
    """Settings that name severities or statuses must name ones the team uses (the
    *_OPTIONS settings), and every severity needs a cadence: otherwise reminders, broadcasts
    or the end of an incident silently never happen."""
    told = {p.variable for p in r.problems}
    severities = ("SEVERITY_OPTIONS", values["severity_options"])
    statuses = ("STATUS_OPTIONS", values["status_options"])
    named: tuple[tuple[str, tuple[str, ...], tuple[str, tuple[str, ...]]], ...] = (
        ("UPDATE_CADENCE", _named_in_cadence(r.raw("UPDATE_CADENCE")), severities),
        ("BROADCAST_SEVERITIES", values["broadcast_severities"], severities),
        ("QUIET_SEVERITIES", values["quiet_severities"], severities),
        ("MITIGATED_STATUSES", values["mitigated_statuses"], statuses),
        ("RESOLVED_STATUSES", values["resolved_statuses"], statuses),
    )
    for variable, values_named, options in named:
        if variable in told or options[0] in told:
            continue
        # A default that does not fit the team's options is harmless (no broadcast, no
        # quiet hours for it), except the one that says when an incident is over.
        if r.raw(variable) is not None or variable == "RESOLVED_STATUSES":
            _one_of(r, variable, values_named, options)
    _statuses_disjoint(r, values, told)
    _cadence_covers(r, values, told)


def _statuses_disjoint(r: _Reader, values: Mapping[str, Any], told: set[str]) -> None:
    both = [s for s in values["mitigated_statuses"] if s in values["resolved_statuses"]]
    if both and not {"MITIGATED_STATUSES", "RESOLVED_STATUSES"} & told:
        r.problems.append(
            SettingProblem(
                "MITIGATED_STATUSES",
                f"names {', '.join(both)}, which RESOLVED_STATUSES names too; a status means "
                "mitigated (still open, impact contained) or resolved (over), not both",
                _example_for("MITIGATED_STATUSES", values["status_options"]),
            )
        )


def _cadence_covers(r: _Reader, values: Mapping[str, Any], told: set[str]) -> None:
    severities: tuple[str, ...] = values["severity_options"]
    uncovered = [s for s in severities if s not in values["update_cadence_s"]]
    if uncovered and "UPDATE_CADENCE" not in told:
        r.problems.append(
            SettingProblem(
                "UPDATE_CADENCE",
                f"says nothing about {', '.join(uncovered)} (from SEVERITY_OPTIONS), so "
                "incidents of that severity would never get a reminder; give each severity "
                "a cadence, or `off`",
                _cadence_example(severities),
            )
        )


def _mirrored(r: _Reader, properties: PropertyNames, names: tuple[str, ...]) -> tuple[str, ...]:
    """MIRRORED_PROPERTIES lists Notion names; return logical keys (or 'prop:<name>')."""
    logical: list[str] = []
    for name in names:
        key = properties.logical_for(name)
        if key in WORKER_WRITTEN:
            r.problems.append(
                SettingProblem(
                    "MIRRORED_PROPERTIES",
                    f"{name!r} is written by the worker itself and cannot be mirrored",
                    '"Name,Status,Severity"',
                )
            )
            continue
        logical.append(key if key is not None else f"prop:{name}")
    return tuple(logical)


def _read_nudges(r: _Reader) -> dict[str, Any]:
    commander_grace_s = r.convert("COMMANDER_GRACE", 300.0, parse_duration_s, "5m")
    return {
        "nag_interval_s": r.convert("NAG_INTERVAL", 60.0, _positive_duration, "1m"),
        "mitigated_cadence_factor": r.convert(
            "MITIGATED_CADENCE_FACTOR", 2.0, _positive_float, "2"
        ),
        "escalate_after_nudges": r.convert("ESCALATE_AFTER_NUDGES", 2, _positive_int, "2"),
        "escalate_to": r.convert("ESCALATE_TO", "channel", _escalate_to, "S0123ABCD"),
        "commander_grace_s": commander_grace_s,
        "severity_grace_s": r.convert("SEVERITY_GRACE", commander_grace_s, parse_duration_s, "5m"),
        "postmortem_due_s": r.convert("POSTMORTEM_DUE", 5 * 86400.0, _positive_duration, "5d"),
        "postmortem_reminder_after_s": r.convert(
            "POSTMORTEM_REMINDER_AFTER", 3 * 86400.0, _positive_duration, "3d"
        ),
        "postmortem_draft_statuses": r.convert(
            "POSTMORTEM_DRAFT_STATUSES", ("Draft",), _csv, "Draft,In review"
        ),
        "quiet_hours": r.convert("QUIET_HOURS", None, parse_quiet_hours, "22:00-08:00"),
        "quiet_severities": r.convert("QUIET_SEVERITIES", ("SEV3", "SEV4"), _csv, "SEV3,SEV4"),
        "working_hours": r.convert(
            "WORKING_HOURS", (time(9), time(18)), parse_time_window, "09:00-18:00"
        ),
    }


def _base_url(slack: bool) -> Callable[[str], str]:
    def convert(value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        if slack:
            return value if value.endswith("/") else value + "/"
        return value.rstrip("/")

    return convert


def _directory(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_dir():
        raise ValueError(f"{value!r} is not a directory")
    return path


def _positive_float(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError(f"{value!r} must be greater than zero")
    return number


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError(f"{value!r} must be a whole number greater than zero")
    return number


def _bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not true or false")


def _escalate_to(value: str) -> str:
    if value in ("channel", "here") or re.fullmatch(r"S[A-Z0-9]{6,}", value):
        return value
    raise ValueError(f"{value!r} should be 'channel', 'here' or a user group id (S…)")


_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_OFF = ("off", "none", "no", "false")


def parse_time_window(text: str) -> tuple[time, time]:
    """'09:00-18:00' → (09:00, 18:00); '22:00-08:00' wraps past midnight; '24:00' may end one."""
    start, sep, end = text.replace("\N{EN DASH}", "-").partition("-")
    if not sep:
        raise ValueError(f"{text!r} should look like 09:00-18:00 (24-hour HH:MM-HH:MM)")
    return _clock(start, text, is_end=False), _clock(end, text, is_end=True)


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """'22:00-08:00' → a window; 'off' (or empty) → None: no quiet hours, weekends included."""
    if text.strip().lower() in (*_OFF, ""):
        return None
    return parse_time_window(text)


def _clock(part: str, whole: str, *, is_end: bool) -> time:
    match = _CLOCK.fullmatch(part.strip())
    if match is None:
        raise ValueError(f"{whole!r} should look like 22:00-08:00 (24-hour HH:MM-HH:MM)")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if is_end and (hours, minutes) == (24, 0):
        return time(0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"{whole!r} has a time that does not exist on a 24-hour clock")
    return time(hours, minutes)
