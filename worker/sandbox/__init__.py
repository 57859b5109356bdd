"""Sandbox: faithful in-memory emulators of the Notion and Slack Web APIs."""

from worker.sandbox.notion.limits import NotionLimits
from worker.sandbox.ratelimit import WindowLimit
from worker.sandbox.server import Sandbox, SandboxOptions

__all__ = ["NotionLimits", "Sandbox", "SandboxOptions", "WindowLimit"]
