"""Sandbox: the emulated workspace shared by both emulators (people, bots, tokens, ids)."""

from __future__ import annotations

import dataclasses
import random
import string
import uuid
from dataclasses import dataclass, field
from typing import Any

_PEOPLE = (
    ("Aiko Tanaka", "aiko@example.com"),
    ("Ben Carter", "ben@example.com"),
    ("Chidi Okafor", "chidi@example.com"),
    ("Dana Levi", "dana@example.com"),
)


@dataclass(frozen=True)
class SandboxPerson:
    """Someone who exists in both the Notion and the Slack workspace."""

    name: str
    email: str
    notion_id: str
    slack_id: str
    notion_token: str = field(repr=False)
    slack_token: str = field(repr=False)

    def as_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "email": self.email,
            "notion_id": self.notion_id,
            "slack_id": self.slack_id,
            "notion_token": self.notion_token,
            "slack_token": self.slack_token,
        }


@dataclass(frozen=True)
class SlackGuest:
    """A Slack Connect guest: a person of another company's Slack team, member of #incidents
    through a shared channel, and unknown to the Notion workspace."""

    name: str
    email: str
    slack_id: str
    team_id: str
    slack_token: str = field(repr=False)

    def as_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "email": self.email,
            "slack_id": self.slack_id,
            "team_id": self.team_id,
            "slack_token": self.slack_token,
        }


@dataclass(frozen=True)
class Workspace:
    """Everything the two emulators must agree on; deterministic for a given seed."""

    seed: int
    notion_bot_id: str
    notion_bot_name: str
    notion_workspace_name: str
    notion_token: str = field(repr=False)
    parent_page_id: str = ""
    slack_team_id: str = ""
    slack_team_domain: str = ""
    slack_bot_user_id: str = ""
    slack_bot_id: str = ""
    slack_app_id: str = ""
    slack_bot_name: str = ""
    slack_token: str = field(default="", repr=False)
    slack_channel_id: str = ""
    slack_channel_name: str = "incidents"
    people: tuple[SandboxPerson, ...] = ()
    # Another Notion integration in the workspace (say, an automation that sets a row's
    # status): it edits rows like a person would, but it is a bot the worker cannot look up.
    notion_automation_id: str = ""
    notion_automation_name: str = "Automations"
    notion_automation_token: str = field(default="", repr=False)
    # Inbound Slack: the app-level token (Socket Mode) and the request signing secret (HTTP).
    slack_app_token: str = field(default="", repr=False)
    slack_signing_secret: str = field(default="", repr=False)
    slack_guest: SlackGuest | None = None

    def person(self, name_or_email: str) -> SandboxPerson:
        """Find a person by name, first name or email (case-insensitive)."""
        wanted = name_or_email.casefold()
        for p in self.people:
            if wanted in (p.name.casefold(), p.email.casefold(), p.name.split()[0].casefold()):
                return p
        raise KeyError(f"no sandbox person called {name_or_email!r}")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _slack_id(rng: random.Random, prefix: str) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(rng.choice(alphabet) for _ in range(10))


def _secret(rng: random.Random, length: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(rng.choice(alphabet) for _ in range(length))


def make_workspace(seed: int = 0) -> Workspace:
    """Build the sandbox workspace: a bot in each service and the same few people in both."""
    rng = random.Random(seed)
    team = _slack_id(rng, "T")
    people = tuple(
        SandboxPerson(
            name=name,
            email=email,
            notion_id=_uuid(rng),
            slack_id=_slack_id(rng, "U"),
            notion_token="ntn_" + _secret(rng, 46),
            slack_token=f"xoxp-{rng.randrange(10**11, 10**12)}-{_secret(rng, 24)}",
        )
        for name, email in _PEOPLE
    )
    workspace = Workspace(
        seed=seed,
        notion_bot_id=_uuid(rng),
        notion_bot_name="Incident Worker",
        notion_workspace_name="Sandbox",
        notion_token="ntn_" + _secret(rng, 46),
        parent_page_id=_uuid(rng),
        slack_team_id=team,
        slack_team_domain="sandbox",
        slack_bot_user_id=_slack_id(rng, "U"),
        slack_bot_id=_slack_id(rng, "B"),
        slack_app_id=_slack_id(rng, "A"),
        slack_bot_name="incident-worker",
        slack_token=f"xoxb-{rng.randrange(10**11, 10**12)}-{_secret(rng, 24)}",
        slack_channel_id=_slack_id(rng, "C"),
        people=people,
        # Drawn last, so that everything above stays the same for a seed.
        notion_automation_id=_uuid(rng),
        notion_automation_token="ntn_" + _secret(rng, 46),
    )
    # Drawn after the automation, for the same reason.
    return dataclasses.replace(workspace, **_inbound(rng, workspace.slack_app_id))


def _inbound(rng: random.Random, app_id: str) -> dict[str, Any]:
    """The app-level token, the signing secret and the Slack Connect guest."""
    app_token = f"xapp-1-{app_id}-{rng.randrange(10**12, 10**13)}-{rng.getrandbits(256):064x}"
    guest = SlackGuest(
        name="Eve Moreau",
        email="eve@partner.example",
        slack_id=_slack_id(rng, "U"),
        team_id=_slack_id(rng, "T"),
        slack_token=f"xoxp-{rng.randrange(10**11, 10**12)}-{_secret(rng, 24)}",
    )
    return {
        "slack_app_token": app_token,
        "slack_signing_secret": f"{rng.getrandbits(128):032x}",
        "slack_guest": guest,
    }


def workspace_info(ws: Workspace, notion_base_url: str, slack_base_url: str) -> dict[str, Any]:
    """The one JSON line `incident-worker sandbox` prints (the contract in PRODUCT.md)."""
    return {
        "notion_base_url": notion_base_url,
        "notion_token": ws.notion_token,
        "slack_base_url": slack_base_url,
        "slack_token": ws.slack_token,
        "parent_page_id": ws.parent_page_id,
        "slack_channel_id": ws.slack_channel_id,
        "users": [p.as_json() for p in ws.people],
        "slack_app_token": ws.slack_app_token,
        "slack_signing_secret": ws.slack_signing_secret,
        "slack_guest": ws.slack_guest.as_json() if ws.slack_guest else None,
    }
