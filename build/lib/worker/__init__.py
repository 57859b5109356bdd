"""notion-incident-worker: a Notion Incidents database as a live incident process in Slack."""

__version__ = "0.1.0"
