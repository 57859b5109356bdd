"""Property registry: each property of the Incidents database declared once (pure data).

Setup, check, the row parser, the stored snapshot, the worker's write-backs, the settings
that name properties and their options, and the README's table all derive from it.

Adding a property is adding an `IncidentProperty` to `PROPERTIES` (and, when the worker's
logic reads it rather than only mirroring it, the `Incident` field it fills).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

# Who fills the property in: the worker never mirrors (announces) what it writes itself.
Writer = Literal["people", "worker"]
# How a row's value becomes its `Incident` field:
#   text           the text a reader sees ("" when empty)
#   stripped_text  the same, without surrounding spaces
#   optional_text  the text, or None when empty
#   option         one of the configured options (`Options`), or None; another value is
#                  unreadable (the last known one stands in)
#   people         the people it names
#   date           an aware datetime (a bare date is midnight in TIMEZONE), or None
Reading = Literal["text", "stripped_text", "optional_text", "option", "people", "date"]


@dataclass(frozen=True)
class Options:
    """The values of a select (or status) property, as the team names them in a setting."""

    setting: str  # the variable that lists them, e.g. STATUS_OPTIONS
    settings_field: str  # the `Settings` field holding them, e.g. status_options
    default: tuple[str, ...]
    # `setup`'s colour for some of them (the others take the palette in turn).
    colors: Mapping[str, str] = field(default_factory=dict)
    # `check`'s advice, after "add it to <setting>", when the database offers a new value.
    check_hint: str = ""
    # The thread's advice, after "add “X” to <setting>", when a row holds a value not listed.
    row_hint: str = ""

    def configured(self, settings: object) -> tuple[str, ...]:
        """The values the team's `Settings` name (the setting, or its default)."""
        values: tuple[str, ...] = getattr(settings, self.settings_field)
        return values


@dataclass(frozen=True)
class IncidentProperty:
    key: str  # the logical name the code uses (settings.properties[key] is its Notion name)
    # Its name in Notion, unless NOTION_PROPERTY_NAMES renames it ("<default name>=<yours>").
    default_name: str
    # The Notion types the worker reads it as; `check` suggests the first when it is missing.
    accepted: tuple[str, ...]
    writer: Writer
    reading: Reading
    # The `Incident` field it fills; None: it is only seen through `Incident.mirrored`.
    incident_field: str | None
    # The type `setup` creates (the first accepted one unless said).
    created: str = ""
    # Announced in the thread when changed, unless MIRRORED_PROPERTIES says otherwise.
    mirrored: bool = False
    # Written by the worker only where the row has none (people may set it first).
    fill_if_empty: bool = False
    options: Options | None = None
    # Said after the writer in the README's table.
    note: str = ""

    @property
    def created_type(self) -> str:
        return self.created or self.accepted[0]


_STATUS = Options(
    setting="STATUS_OPTIONS",
    settings_field="status_options",
    default=("Investigating", "Identified", "Monitoring", "Resolved"),
    colors={"Investigating": "red", "Identified": "orange", "Monitoring": "yellow"},
    check_hint=" (and to RESOLVED_STATUSES or MITIGATED_STATUSES if that is what it means)",
    row_hint=" (and to RESOLVED_STATUSES if it means resolved)",
)
_SEVERITY = Options(
    setting="SEVERITY_OPTIONS",
    settings_field="severity_options",
    default=("SEV1", "SEV2", "SEV3", "SEV4"),
    check_hint=" (and give it a cadence in UPDATE_CADENCE)",
)
_CUSTOMER_COMMS = Options(
    setting="CUSTOMER_COMMS_OPTIONS",
    settings_field="customer_comms_options",
    default=("None", "Internal only", "Customers notified"),
    colors={"None": "gray"},
)


# In the order `check` lists them and the README's table shows them.
PROPERTIES: tuple[IncidentProperty, ...] = (
    IncidentProperty(
        key="title",
        default_name="Name",
        accepted=("title",),
        writer="people",
        reading="stripped_text",
        incident_field="title",
        mirrored=True,
    ),
    IncidentProperty(
        key="status",
        default_name="Status",
        accepted=("status", "select"),
        writer="people",
        reading="option",
        incident_field="status",
        # Notion's API cannot create the options of a status property.
        created="select",
        mirrored=True,
        options=_STATUS,
    ),
    IncidentProperty(
        key="severity",
        default_name="Severity",
        accepted=("select", "status"),
        writer="people",
        reading="option",
        incident_field="severity",
        mirrored=True,
        options=_SEVERITY,
    ),
    IncidentProperty(
        key="commander",
        default_name="Commander",
        accepted=("people",),
        writer="people",
        reading="people",
        incident_field="commander",
        mirrored=True,
    ),
    IncidentProperty(
        key="scribe",
        default_name="Scribe",
        accepted=("people",),
        writer="people",
        reading="people",
        incident_field="scribe",
        mirrored=True,
    ),
    IncidentProperty(
        key="impact",
        default_name="Impact",
        accepted=("rich_text",),
        writer="people",
        reading="text",
        incident_field="impact",
        mirrored=True,
    ),
    IncidentProperty(
        key="status_update",
        default_name="Status update",
        accepted=("rich_text",),
        writer="people",
        reading="text",
        incident_field="status_update",
        # Not mirrored: an edit of it is announced as a status update, not as a change.
        note="(an edit of *Status update* is a status update)",
    ),
    IncidentProperty(
        key="customer_comms",
        default_name="Customer comms",
        accepted=("select", "status", "rich_text"),
        writer="people",
        reading="optional_text",
        incident_field="customer_comms",
        mirrored=True,
        options=_CUSTOMER_COMMS,
    ),
    # Declared when the incident is announced, Mitigated and Resolved on those transitions.
    IncidentProperty(
        key="declared_at",
        default_name="Declared at",
        accepted=("date",),
        writer="worker",
        reading="date",
        incident_field="declared_at",
        fill_if_empty=True,
    ),
    IncidentProperty(
        key="mitigated_at",
        default_name="Mitigated at",
        accepted=("date",),
        writer="worker",
        reading="date",
        incident_field="mitigated_at",
        fill_if_empty=True,
    ),
    IncidentProperty(
        key="resolved_at",
        default_name="Resolved at",
        accepted=("date",),
        writer="worker",
        reading="date",
        incident_field="resolved_at",
        fill_if_empty=True,
    ),
    IncidentProperty(
        key="next_update_due",
        default_name="Next update due",
        accepted=("date",),
        writer="worker",
        reading="date",
        incident_field="next_update_due",
    ),
    # Links to what the worker made for the incident (it sets them back when people change them).
    IncidentProperty(
        key="slack_thread",
        default_name="Slack thread",
        accepted=("url",),
        writer="worker",
        reading="optional_text",
        incident_field="slack_thread",
    ),
    IncidentProperty(
        key="timeline",
        default_name="Timeline",
        accepted=("url",),
        writer="worker",
        reading="optional_text",
        incident_field="timeline_url",
    ),
    IncidentProperty(
        key="postmortem",
        default_name="Postmortem",
        accepted=("url",),
        writer="worker",
        reading="optional_text",
        incident_field="postmortem_url",
    ),
)

BY_KEY: Mapping[str, IncidentProperty] = {p.key: p for p in PROPERTIES}
DEFAULT_NAMES: Mapping[str, str] = {p.key: p.default_name for p in PROPERTIES}
# Properties the worker writes itself: their changes are never mirrored (no echo loops).
WORKER_WRITTEN: tuple[str, ...] = tuple(p.key for p in PROPERTIES if p.writer == "worker")
DEFAULT_MIRRORED: tuple[str, ...] = tuple(p.key for p in PROPERTIES if p.mirrored)
# Times the worker fills in only where people have not already.
FILLED_IF_EMPTY: tuple[str, ...] = tuple(p.key for p in PROPERTIES if p.fill_if_empty)
# The links the worker owns: what it wrote stands, whatever the row shows (it repairs them).
OWN_LINKS: tuple[IncidentProperty, ...] = tuple(
    p for p in PROPERTIES if p.writer == "worker" and p.created_type == "url"
)
# Logical key → `Incident` field of the properties read as one of their configured options.
OPTION_FIELDS: Mapping[str, str] = {
    p.key: p.incident_field
    for p in PROPERTIES
    if p.reading == "option" and p.incident_field is not None
}
# The settings that name the values of select properties (STATUS_OPTIONS, …).
OPTION_SETTINGS: tuple[Options, ...] = tuple(p.options for p in PROPERTIES if p.options is not None)


def default_options(key: str) -> tuple[str, ...]:
    options = BY_KEY[key].options
    if options is None:
        raise KeyError(f"{key} has no options")
    return options.default


def incident_field(key: str) -> str | None:
    """The `Incident` field a logical property fills (None for one only mirrored)."""
    prop = BY_KEY.get(key)
    return prop.incident_field if prop else None


# --- the README's table -------------------------------------------------------------------

_TYPE_WORDS = {"rich_text": "rich text"}


def _type_cell(prop: IncidentProperty) -> str:
    words = [_TYPE_WORDS.get(kind, kind) for kind in prop.accepted]
    kinds = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
    return f"{kinds}: {', '.join(prop.options.default)}" if prop.options else kinds


def _writer_cell(prop: IncidentProperty) -> str:
    cell = "people" if prop.writer == "people" else "the worker"
    if prop.fill_if_empty:
        cell += ", on transitions, if empty"
    return f"{cell} {prop.note}" if prop.note else cell


def schema_table() -> str:
    """The README's table of the database: one row per run of properties alike."""
    rows: list[tuple[list[str], str, str]] = []
    for prop in PROPERTIES:
        cells = (_type_cell(prop), _writer_cell(prop))
        if rows and rows[-1][1:] == cells:
            rows[-1][0].append(prop.default_name)
        else:
            rows.append(([prop.default_name], *cells))
    lines = ["| property | type | written by |", "| --- | --- | --- |"]
    lines += [f"| {', '.join(names)} | {kind} | {writer} |" for names, kind, writer in rows]
    return "\n".join(lines) + "\n"
