"""Notion emulator: the workspace's users (the integration's bot and the people) and tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from worker.sandbox.workspace import Workspace

_AVATAR = "https://s3-us-west-2.amazonaws.com/public.notion-static.com/sandbox/{id}/avatar.png"


@dataclass(frozen=True)
class Actor:
    """Who a request acts as: the integration's bot, or a person using their own token."""

    user_id: str
    is_bot: bool


class Directory:
    """Users are fixed by the workspace; nothing here changes after construction."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.bot_id = workspace.notion_bot_id
        self.bot_name = workspace.notion_bot_name
        self._workspace_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"notion-sandbox:{self.bot_id}"))
        self._by_token = {workspace.notion_token: Actor(self.bot_id, is_bot=True)} | {
            p.notion_token: Actor(p.notion_id, is_bot=False) for p in workspace.people
        }
        self._users = {p.notion_id: self._person(p.notion_id) for p in workspace.people}
        self._users[self.bot_id] = self._bot()
        # Another integration: it can act, but the worker's integration cannot see it (Notion
        # shows an integration only its own bot: users.retrieve of another integration's bot
        # answers 404, HEIGE-PCloud/Notion-Hugo#236), so it is in no listing or lookup.
        self.automation_id = workspace.notion_automation_id
        if workspace.notion_automation_token:
            self._by_token[workspace.notion_automation_token] = Actor(
                self.automation_id, is_bot=True
            )

    def actor_for_token(self, token: str) -> Actor | None:
        return self._by_token.get(token)

    def user_ids(self) -> list[str]:
        """People first, then the bot, as `GET /v1/users` lists them."""
        return list(self._users)

    def user(self, user_id: str) -> dict[str, Any] | None:
        found = self._users.get(user_id)
        return dict(found) if found is not None else None

    def name(self, user_id: str) -> str:
        found = self._users.get(user_id)
        return str(found["name"]) if found else ""

    def resolve(self, who: str | None) -> str:
        """A user id from an id, a person's name/first name/email, or None (the bot)."""
        if who is None:
            return self.bot_id
        if who in self._users:
            return who
        return self.workspace.person(who).notion_id

    def _person(self, user_id: str) -> dict[str, Any]:
        person = next(p for p in self.workspace.people if p.notion_id == user_id)
        return {
            "object": "user",
            "id": person.notion_id,
            "name": person.name,
            "avatar_url": _AVATAR.format(id=person.notion_id),
            "type": "person",
            "person": {"email": person.email, "email_verified": True},
        }

    def _bot(self) -> dict[str, Any]:
        return {
            "object": "user",
            "id": self.bot_id,
            "name": self.bot_name,
            "avatar_url": None,
            "type": "bot",
            "bot": {
                "owner": {"type": "workspace", "workspace": True},
                "workspace_name": self.workspace.notion_workspace_name,
                "workspace_id": self._workspace_id,
                "workspace_limits": {"max_file_upload_size_in_bytes": 5242880},
            },
        }
