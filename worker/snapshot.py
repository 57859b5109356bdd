"""Parse: a Notion row (raw JSON, once, at the edge) → an `Incident` snapshot of plain values."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from worker.config import PropertyNames, Settings
from worker.errors import RowError
from worker.properties import BY_KEY, PROPERTIES, IncidentProperty, Options, incident_field


@dataclass(frozen=True)
class Person:
    """A Notion user (or group) as a people property or `last_edited_by` shows them."""

    id: str
    name: str = ""
    email: str | None = None
    is_bot: bool = False
    # Someone who acted from Slack (a button, a modal), credited by their Slack user id:
    # mentioned as themselves whether or not Notion knows them.
    slack_id: str | None = None

    @property
    def nameable(self) -> bool:
        """Whether Notion takes this user in a mention or a people value it is sent: a
        person it showed us (a name or an email came back), never a bot. Notion refuses
        bots there, and users it does not show the integration, with a validation error
        that fails the whole request."""
        return bool(self.name or self.email) and not self.is_bot


@dataclass(frozen=True)
class Value:
    """One property's value reduced to what a reader sees; equal values mean 'no change'."""

    text: str = ""
    people: tuple[Person, ...] = ()
    is_people: bool = False
    # The property is missing or has a type the worker cannot read: not a change to report.
    unknown: bool = False

    @property
    def is_empty(self) -> bool:
        return not self.text and not self.people

    def comparable(self) -> tuple[str, ...] | str:
        """People compare by id (a renamed user is not a change of commander)."""
        if self.is_people:
            return tuple(sorted(p.id for p in self.people))
        return self.text


@dataclass(frozen=True)
class Incident:
    """The worker's view of one Incidents row at one moment."""

    page_id: str
    url: str
    created_time: datetime
    last_edited_time: datetime
    last_edited_by: str | None
    title: str = ""
    status: str | None = None
    severity: str | None = None
    commander: tuple[Person, ...] = ()
    scribe: tuple[Person, ...] = ()
    impact: str = ""
    status_update: str = ""
    customer_comms: str | None = None
    declared_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    next_update_due: datetime | None = None
    slack_thread: str | None = None
    timeline_url: str | None = None
    postmortem_url: str | None = None
    # Mirrored properties in configured order: (logical key or "prop:<name>", value).
    mirrored: tuple[tuple[str, Value], ...] = ()
    in_trash: bool = False
    # Problems found while parsing (missing or retyped properties); the row still works.
    problems: tuple[str, ...] = field(default=(), compare=False)
    # Logical properties the worker could not read on this row (missing, retyped, or a value
    # that is not a configured option): their last known values stand in (`carry_unreadable`).
    unreadable: tuple[str, ...] = ()
    # Values on this row that are not configured options ("Closed", "P2"), said in its thread.
    value_problems: tuple[str, ...] = field(default=(), compare=False)


# --- reading property values -------------------------------------------------------------


def _plain(items: Any) -> str:
    if not isinstance(items, list):
        return ""
    return "".join(str(item.get("plain_text", "")) for item in items if isinstance(item, dict))


def _person(raw: Mapping[str, Any]) -> Person:
    name = str(raw.get("name") or "")
    email = None
    person = raw.get("person")
    if isinstance(person, dict) and person.get("email"):
        email = str(person["email"])
    return Person(
        id=str(raw.get("id", "")), name=name, email=email, is_bot=raw.get("type") == "bot"
    )


def _people(prop: Mapping[str, Any]) -> tuple[Person, ...]:
    raw = prop.get(prop.get("type", ""), [])
    if not isinstance(raw, list):
        return ()
    return tuple(_person(p) for p in raw if isinstance(p, dict) and p.get("id"))


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _date_text(value: Any) -> str:
    if not isinstance(value, dict) or not value.get("start"):
        return ""
    end = value.get("end")
    return f"{value['start']} → {end}" if end else str(value["start"])


def _formula_text(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    kind = value.get("type", "")
    inner = value.get(kind)
    if kind == "date":
        return _date_text(inner)
    if kind == "boolean":
        return "Yes" if inner else "No"
    return _number(inner) if kind == "number" else str(inner or "")


def _unique_id_text(value: Any) -> str:
    if not isinstance(value, dict) or value.get("number") is None:
        return ""
    prefix = value.get("prefix")
    return f"{prefix}-{value['number']}" if prefix else str(value["number"])


_DISPLAY: dict[str, Callable[[Any], str]] = {
    "title": _plain,
    "rich_text": _plain,
    "select": lambda v: str(v.get("name", "")) if isinstance(v, dict) else "",
    "status": lambda v: str(v.get("name", "")) if isinstance(v, dict) else "",
    "multi_select": lambda v: ", ".join(str(o.get("name", "")) for o in v or []),
    "number": _number,
    "checkbox": lambda v: "Yes" if v else "No",
    "url": lambda v: str(v or ""),
    "email": lambda v: str(v or ""),
    "phone_number": lambda v: str(v or ""),
    "date": _date_text,
    "formula": _formula_text,
    "unique_id": _unique_id_text,
    "relation": lambda v: f"{len(v)} linked" if v else "",
    "files": lambda v: ", ".join(str(f.get("name", "")) for f in v or []),
    "created_time": lambda v: str(v or ""),
    "last_edited_time": lambda v: str(v or ""),
    "created_by": lambda v: str(v.get("name") or v.get("id", "")) if isinstance(v, dict) else "",
    "last_edited_by": lambda v: (
        str(v.get("name") or v.get("id", "")) if isinstance(v, dict) else ""
    ),
}


def display_value(prop: Mapping[str, Any]) -> Value:
    """Any property → the text a reader would see (people keep their identities)."""
    kind = str(prop.get("type", ""))
    if kind == "people":
        people = _people(prop)
        return Value(text=", ".join(p.name or p.id for p in people), people=people, is_people=True)
    reader = _DISPLAY.get(kind)
    if reader is None:
        return Value(text="")
    try:
        return Value(text=reader(prop.get(kind)))
    except (AttributeError, TypeError):
        return Value(text="")


def parse_timestamp(text: str, tz: ZoneInfo | None = None) -> datetime:
    """ISO date or datetime → aware datetime (a bare date is midnight in `tz`)."""
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time(0), tzinfo=tz or UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz or UTC)


# --- the row parser ----------------------------------------------------------------------


class _RowReader:
    def __init__(self, props: Mapping[str, Any], names: PropertyNames, tz: ZoneInfo) -> None:
        self.props = props
        self.names = names
        self.tz = tz
        self.problems: list[str] = []
        self.unreadable: list[str] = []
        self.value_problems: list[str] = []

    def prop(self, logical: str) -> Mapping[str, Any] | None:
        name = self.names[logical]
        prop = self.props.get(name)
        if not isinstance(prop, dict):
            self.problems.append(f"property {name!r} is missing")
            self.unreadable.append(logical)
            return None
        accepted = BY_KEY[logical].accepted
        if prop.get("type") not in accepted:
            self.problems.append(
                f"property {name!r} is a {prop.get('type')} property; "
                f"the worker needs {' or '.join(accepted)}"
            )
            self.unreadable.append(logical)
            return None
        return prop

    def read(self, prop: IncidentProperty, settings: Settings) -> Any:
        """The value of `prop` for its `Incident` field, as its registry entry says to read it."""
        if prop.reading == "option" and prop.options is not None:
            return self.option(prop.key, prop.options, settings)
        if prop.reading == "stripped_text":
            return self.text(prop.key).strip()
        readers: dict[str, Callable[[str], Any]] = {
            "text": self.text,
            "optional_text": self.optional_text,
            "people": self.people,
            "date": self.when,
        }
        return readers[prop.reading](prop.key)

    def option(self, logical: str, spec: Options, settings: Settings) -> str | None:
        """A select or status value that must be one of the configured options; another
        one ("Closed", a severity renamed "P2") is unreadable: the worker cannot tell what
        it means for reminders and resolution, so the last known value stands in."""
        options = spec.configured(settings)
        value = self.optional_text(logical)
        if value is None or value in options:
            return value
        self.unreadable.append(logical)
        name = self.names[logical]
        setting = spec.setting
        self.value_problems.append(
            f"{name} is “{value}”, which is not one of {setting} ({', '.join(options)}). "
            f"Until it is, the worker goes on with the last {name} it knew. Choose one of "
            f"those in Notion, or add “{value}” to {setting}{spec.row_hint}"
        )
        return None

    def text(self, logical: str) -> str:
        prop = self.prop(logical)
        return display_value(prop).text if prop else ""

    def optional_text(self, logical: str) -> str | None:
        return self.text(logical) or None

    def people(self, logical: str) -> tuple[Person, ...]:
        prop = self.prop(logical)
        return _people(prop) if prop else ()

    def when(self, logical: str) -> datetime | None:
        prop = self.prop(logical)
        value = prop.get("date") if prop else None
        if not isinstance(value, dict) or not value.get("start"):
            return None
        try:
            return parse_timestamp(str(value["start"]), self.tz)
        except ValueError:
            self.problems.append(f"property {self.names[logical]!r} has an unreadable date")
            return None

    def mirrored(self, keys: tuple[str, ...]) -> tuple[tuple[str, Value], ...]:
        out: list[tuple[str, Value]] = []
        for key in keys:
            name = key[5:] if key.startswith("prop:") else self.names[key]
            prop = self.props.get(name)
            usable = isinstance(prop, dict) and (
                key.startswith("prop:") or prop.get("type") in BY_KEY[key].accepted
            )
            out.append((key, display_value(prop) if usable and prop else Value(unknown=True)))
        return tuple(out)


def parse_incident(raw: Mapping[str, Any], settings: Settings) -> Incident:
    """Parse a page object of the Incidents data source; raises RowError if it is no row."""
    page_id = raw.get("id")
    props = raw.get("properties")
    if not isinstance(page_id, str) or not isinstance(props, dict):
        raise RowError(str(page_id), "the Notion answer is not a page with properties")
    try:
        created = parse_timestamp(str(raw["created_time"]))
        edited = parse_timestamp(str(raw["last_edited_time"]))
    except (KeyError, ValueError) as exc:
        raise RowError(page_id, f"unreadable timestamps ({exc})") from exc
    editor = raw.get("last_edited_by")
    r = _RowReader(props, settings.properties, settings.timezone)
    fields: dict[str, Any] = {}
    for prop in PROPERTIES:
        if prop.incident_field is None:
            r.prop(prop.key)  # only mirrored: read to say when it is missing or retyped
        else:
            fields[prop.incident_field] = r.read(prop, settings)
    incident = Incident(
        page_id=page_id,
        url=str(raw.get("url") or ""),
        created_time=created,
        last_edited_time=edited,
        last_edited_by=str(editor["id"]) if isinstance(editor, dict) and "id" in editor else None,
        **fields,
        mirrored=r.mirrored(settings.mirrored),
        in_trash=bool(raw.get("in_trash") or raw.get("archived")),
    )
    if not (r.problems or r.unreadable or r.value_problems):
        return incident
    unreadable = tuple(dict.fromkeys(r.unreadable))
    mirrored = tuple(
        (key, Value(unknown=True) if key in unreadable else value)
        for key, value in incident.mirrored
    )
    return replace(
        incident,
        mirrored=mirrored,
        problems=tuple(dict.fromkeys(r.problems)),
        unreadable=unreadable,
        value_problems=tuple(dict.fromkeys(r.value_problems)),
    )


def with_unreadable(incident: Incident, logical: str, problem: str) -> Incident:
    """`incident` with one more property it could not make sense of (and why)."""
    mirrored = tuple(
        (key, Value(unknown=True) if key == logical else value) for key, value in incident.mirrored
    )
    return replace(
        incident,
        mirrored=mirrored,
        unreadable=(*incident.unreadable, logical),
        value_problems=(*incident.value_problems, problem),
    )


def carry_unreadable(old: Incident, new: Incident) -> Incident:
    """`new`, with the last known value of each property it could not read (missing,
    retyped, an unknown option) — so nothing is announced while a property is unreadable,
    and the difference from its last known value is announced once it is readable again."""
    missing = {key for key, value in new.mirrored if value.unknown} | set(new.unreadable)
    if not missing:
        return new
    stale = [incident_field(k) for k in new.unreadable]
    fields = {f: getattr(old, f) for f in stale if f is not None}
    before = dict(old.mirrored)
    mirrored = tuple(
        (key, before[key] if key in missing and key in before else value)
        for key, value in new.mirrored
    )
    return replace(new, mirrored=mirrored, **fields)


# --- storage form -------------------------------------------------------------------------


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__}")


def incident_to_json(incident: Incident) -> str:
    return json.dumps(_without_unset(asdict(incident)), default=_json_default, ensure_ascii=False)


def _without_unset(node: Any) -> Any:
    """People as versions before `Person.slack_id` stored them (Notion's people never have
    one): a rollback reads the snapshot back."""
    if isinstance(node, dict):
        return {
            key: _without_unset(value)
            for key, value in node.items()
            if not (key == "slack_id" and value is None)
        }
    if isinstance(node, list | tuple):
        return [_without_unset(item) for item in node]
    return node


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _people_from(items: Any) -> tuple[Person, ...]:
    return tuple(Person(**p) for p in items or [])


def _stored(prop: IncidentProperty, name: str, data: Mapping[str, Any]) -> Any:
    """A property's `Incident` field as `incident_to_json` stored it (absent: empty)."""
    if prop.reading == "people":
        return _people_from(data.get(name))
    if prop.reading == "date":
        return _dt(data.get(name))
    if prop.reading in ("text", "stripped_text"):
        return data.get(name, "")
    return data.get(name)


def incident_from_json(text: str) -> Incident:
    data = json.loads(text)
    mirrored = tuple(
        (
            key,
            Value(
                text=v["text"],
                people=_people_from(v["people"]),
                is_people=v["is_people"],
                unknown=v.get("unknown", False),
            ),
        )
        for key, v in data.get("mirrored", [])
    )
    created = _dt(data["created_time"])
    edited = _dt(data["last_edited_time"])
    if created is None or edited is None:
        raise ValueError("stored incident without timestamps")
    fields = {
        prop.incident_field: _stored(prop, prop.incident_field, data)
        for prop in PROPERTIES
        if prop.incident_field is not None
    }
    return Incident(
        page_id=data["page_id"],
        url=data["url"],
        created_time=created,
        last_edited_time=edited,
        last_edited_by=data.get("last_edited_by"),
        **fields,
        mirrored=mirrored,
        in_trash=bool(data.get("in_trash")),
        problems=tuple(data.get("problems", ())),
        unreadable=tuple(data.get("unreadable", ())),
    )
