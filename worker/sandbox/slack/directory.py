"""Sandbox Slack: who exists in the workspace, which token is whom, and the user objects."""

from __future__ import annotations

import hashlib
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from worker.sandbox.workspace import Workspace

# The bot token's scopes unless a test changes them: the app manifest's list.
BOT_DEFAULT_SCOPES = frozenset(
    {
        "chat:write",
        "chat:write.public",
        "channels:read",
        "channels:history",
        "channels:join",
        "users:read",
        "users:read.email",
        "reactions:write",
        "pins:write",
        # Inbound (issue 15): reading the marks people put on thread messages.
        "reactions:read",
        "pins:read",
    }
)
# What each person's user token (xoxp-) may do.
PERSON_SCOPES = frozenset(
    {
        "chat:write",
        "channels:read",
        "channels:history",
        "channels:write",
        "groups:read",
        "groups:history",
        "users:read",
        "users:read.email",
        "reactions:write",
        "pins:write",
        "reactions:read",
        "pins:read",
    }
)

# Long names Slack shows as `tz_label`: (standard time, daylight saving time).
_TZ_LABELS = {
    "Asia/Tokyo": ("Japan Standard Time", "Japan Standard Time"),
    "America/New_York": ("Eastern Standard Time", "Eastern Daylight Time"),
    "Africa/Lagos": ("West Africa Standard Time", "West Africa Standard Time"),
    "Europe/London": ("Greenwich Mean Time", "British Summer Time"),
    "America/Los_Angeles": ("Pacific Standard Time", "Pacific Daylight Time"),
    "Europe/Paris": ("Central European Time", "Central European Summer Time"),
}
_PERSON_ZONES = ("Asia/Tokyo", "America/New_York", "Africa/Lagos", "Europe/London")
_COLORS = ("9f69e7", "4bbe2e", "e7392d", "3c989f", "674b1b")
_AVATAR_SIZES = (24, 32, 48, 72, 192, 512)


@dataclass(frozen=True)
class Identity:
    """The caller behind a token: a person (xoxp-) or the app's bot user (xoxb-)."""

    user_id: str
    is_bot: bool
    # The app-level token (xapp-): only apps.connections.open takes it.
    is_app: bool = False


@dataclass(frozen=True)
class UserRecord:
    id: str
    handle: str
    real_name: str
    display_name: str
    email: str
    tz: str
    color: str
    is_bot: bool = False
    # A Slack Connect guest belongs to another team (None: ours).
    team_id: str | None = None


class Directory:
    """The fixed cast of the sandbox workspace, built from `Workspace`."""

    def __init__(self, workspace: Workspace, created_s: int) -> None:
        self.workspace = workspace
        self.created_s = created_s
        self._tokens: dict[str, Identity] = {
            workspace.slack_token: Identity(workspace.slack_bot_user_id, is_bot=True)
        }
        self.users: dict[str, UserRecord] = {}
        for index, person in enumerate(workspace.people):
            self._tokens[person.slack_token] = Identity(person.slack_id, is_bot=False)
            self.users[person.slack_id] = UserRecord(
                id=person.slack_id,
                handle=person.email.split("@")[0],
                real_name=person.name,
                display_name=person.name.split()[0],
                email=person.email,
                tz=_PERSON_ZONES[index % len(_PERSON_ZONES)],
                color=_COLORS[index % len(_COLORS)],
            )
        if workspace.slack_app_token:
            self._tokens[workspace.slack_app_token] = Identity(
                workspace.slack_app_id, is_bot=False, is_app=True
            )
        guest = workspace.slack_guest
        if guest is not None:
            self._tokens[guest.slack_token] = Identity(guest.slack_id, is_bot=False)
            self.users[guest.slack_id] = UserRecord(
                id=guest.slack_id,
                handle=guest.email.split("@")[0],
                real_name=guest.name,
                display_name=guest.name.split()[0],
                email=guest.email,
                tz="Europe/Paris",
                color=_COLORS[1],
                team_id=guest.team_id,
            )
        bot_name = workspace.slack_bot_name
        self.users[workspace.slack_bot_user_id] = UserRecord(
            id=workspace.slack_bot_user_id,
            handle=bot_name,
            real_name=bot_name.replace("-", " ").title(),
            display_name="",
            email="",
            tz="America/Los_Angeles",
            color=_COLORS[-1],
            is_bot=True,
        )

    @property
    def people_ids(self) -> list[str]:
        return [p.slack_id for p in self.workspace.people]

    def team_of(self, user_id: str) -> str:
        """The team a user belongs to: ours, or the guest's own."""
        user = self.users.get(user_id)
        return (user.team_id if user else None) or self.workspace.slack_team_id

    def identify(self, token: str) -> Identity | None:
        return self._tokens.get(token)

    def by_email(self, email: str) -> UserRecord | None:
        wanted = email.strip().casefold()
        for user in self.users.values():
            if user.email and user.email.casefold() == wanted:
                return user
        return None

    def user_json(
        self, user: UserRecord, now_s: float, *, with_email: bool, with_locale: bool = False
    ) -> dict[str, Any]:
        """A user object shaped like users.info / users.lookupByEmail answers."""
        tz_offset, tz_label = _zone(user.tz, now_s)
        body: dict[str, Any] = {
            "id": user.id,
            "team_id": self.team_of(user.id),
            "name": user.handle,
            "deleted": False,
            "color": user.color,
            "real_name": user.real_name,
            "tz": user.tz,
            "tz_label": tz_label,
            "tz_offset": tz_offset,
            "profile": self._profile(user, with_email=with_email),
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "updated": self.created_s,
            "is_email_confirmed": bool(user.email),
            "has_2fa": False,
            "who_can_share_contact_card": "EVERYONE",
        }
        if with_locale:
            body["locale"] = "en-US"
        return body

    def _profile(self, user: UserRecord, *, with_email: bool) -> dict[str, Any]:
        first, _, last = user.real_name.partition(" ")
        avatar = hashlib.sha256((user.email or user.id).encode()).hexdigest()[:32]
        profile: dict[str, Any] = {
            "title": "",
            "phone": "",
            "skype": "",
            "real_name": user.real_name,
            "real_name_normalized": user.real_name,
            "display_name": user.display_name,
            "display_name_normalized": user.display_name,
            "status_text": "",
            "status_emoji": "",
            "status_expiration": 0,
            "avatar_hash": avatar[:12],
            "first_name": first,
            "last_name": last,
            "team": self.team_of(user.id),
        }
        for size in _AVATAR_SIZES:
            profile[f"image_{size}"] = f"https://secure.gravatar.com/avatar/{avatar}.jpg?s={size}"
        if user.is_bot:
            profile["bot_id"] = self.workspace.slack_bot_id
            profile["api_app_id"] = self.workspace.slack_app_id
            profile["always_active"] = True
        elif with_email:
            profile["email"] = user.email
        return profile

    def bot_profile(self) -> dict[str, Any]:
        """The `bot_profile` Slack attaches to messages the app posted."""
        ws = self.workspace
        icon = "https://a.slack-edge.com/80588/img/plugins/app/bot_{}.png"
        return {
            "id": ws.slack_bot_id,
            "deleted": False,
            "name": ws.slack_bot_name,
            "updated": self.created_s,
            "app_id": ws.slack_app_id,
            "icons": {f"image_{n}": icon.format(n) for n in (36, 48, 72)},
            "team_id": ws.slack_team_id,
        }


def _zone(name: str, now_s: float) -> tuple[int, str]:
    """The zone's offset at `now_s` and its long label, as Slack reports them."""
    try:
        zone = zoneinfo.ZoneInfo(name)
    except zoneinfo.ZoneInfoNotFoundError:
        return 0, "Coordinated Universal Time"
    moment = datetime.fromtimestamp(now_s, tz=UTC).astimezone(zone)
    offset = moment.utcoffset()
    standard, daylight = _TZ_LABELS.get(name, (name, name))
    label = daylight if moment.dst() else standard
    return (int(offset.total_seconds()) if offset else 0), label
