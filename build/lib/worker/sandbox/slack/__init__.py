"""Sandbox: the Slack Web API emulator (POST /api/<method>)."""

from worker.sandbox.slack.emulator import SlackEmulator

__all__ = ["SlackEmulator"]
