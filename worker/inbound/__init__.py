"""Inbound Slack: what people do in Slack (pins, reactions, buttons, modals) reaching the worker.

- `intake`: how a handler finds the incident a Slack message or click belongs to, and records
  the work for it in that database's outbox (the delivery lanes carry it out).
- `app`: the slack-bolt app, its global filters and the feature handlers it registers.
- `transport`: Socket Mode (an app-level token; no public URL) and HTTP `/slack/events`
  (verified with the signing secret), the same app behind both.
"""
