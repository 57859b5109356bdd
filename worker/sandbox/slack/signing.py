"""Sandbox Slack: signing what it POSTs to an app's request URL (Slack's v0 signature).

`v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{exact body bytes}`, keyed by the signing
secret (reference/slack/inbound.md §3, from slack_sdk/signature). The body is signed as
sent, never re-serialised.
"""

from __future__ import annotations

import hashlib
import hmac


def signature(secret: str, timestamp: int, body: bytes) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(secret: str, timestamp: int, body: bytes, content_type: str) -> dict[str, str]:
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature(secret, timestamp, body),
    }
