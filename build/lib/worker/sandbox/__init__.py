"""Sandbox: faithful in-memory emulators of the Notion and Slack Web APIs."""

from worker.sandbox.server import Sandbox, SandboxOptions

__all__ = ["Sandbox", "SandboxOptions"]
