"""Sandbox: property values as Notion takes them, for acting as the workspace's people."""

from __future__ import annotations

from typing import Any

from worker.sandbox.workspace import SandboxPerson


def title(text: str) -> dict[str, Any]:
    return {"title": [{"text": {"content": text}}]}


def rich(text: str) -> dict[str, Any]:
    return {"rich_text": [{"text": {"content": text}}]}


def select(name: str | None) -> dict[str, Any]:
    return {"select": {"name": name} if name else None}


def people(*persons: SandboxPerson) -> dict[str, Any]:
    return {"people": [{"id": p.notion_id} for p in persons]}
