"""Sandbox: the Notion API emulator (Notion-Version 2025-09-03, routes under /v1/)."""

from worker.sandbox.notion.emulator import NotionEmulator

__all__ = ["NotionEmulator"]
