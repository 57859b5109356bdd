"""`make fidelity`: run the emulators' fidelity tests alone and print, per Notion endpoint and
Slack method the worker calls, what they check against the real services and what is known
to differ — the table in the README's sandbox section.

Measured, not declared: which tests exercised each endpoint and which error answers they
saw come from the test run itself (tests/sandbox/fidelity_plugin.py); the reference counts
come from tests/reference. Only the worker's calls and the known differences are written
here, and the list of calls is checked against the worker's source."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.sandbox.fidelity_plugin import endpoint  # noqa: E402

REFERENCE = ROOT / "tests" / "reference"


@dataclass(frozen=True)
class Call:
    """One endpoint the worker calls: its route, the SDK call in the worker's code, why."""

    service: str  # "Notion" or "Slack"
    route: str  # as `endpoint()` names it: "PATCH /v1/pages/{id}", "chat.update"
    sdk: str  # how the worker's code calls it: "pages.update", "chat_update"
    purpose: str
    differences: str = ""


_WRITES = (
    "a time window of two users' writes stands in for real concurrency (409); a request both "
    "invalid and overlapping answers 409, not 400; the wording for a bot in a people value is "
    "ours (Notion's was never found quoted)"
)

CALLS = (
    Call("Notion", "GET /v1/users/me", "users.me", "who the integration is (start, check)"),
    Call(
        "Notion",
        "GET /v1/users/{id}",
        "users.retrieve",
        "who edited a row",
        "guests and groups are not emulated; another integration's bot answers 404",
    ),
    Call("Notion", "POST /v1/databases", "databases.create", "setup"),
    Call("Notion", "GET /v1/databases/{id}", "databases.retrieve", "the data source of a database"),
    Call("Notion", "GET /v1/data_sources/{id}", "data_sources.retrieve", "schema (check, watch)"),
    Call(
        "Notion",
        "POST /v1/data_sources/{id}/query",
        "data_sources.query",
        "the poll; rows in the trash",
        "formula and rollup values are placeholders; relative date filters count days; "
        "rate-limit budgets are assumptions (Notion publishes none)",
    ),
    Call("Notion", "POST /v1/pages", "pages.create", "timeline and postmortem pages", _WRITES),
    Call("Notion", "GET /v1/pages/{id}", "pages.retrieve", "a row read again before a write"),
    Call("Notion", "PATCH /v1/pages/{id}", "pages.update", "links and dates on the row", _WRITES),
    Call(
        "Notion",
        "GET /v1/blocks/{id}/children",
        "blocks.children.list",
        "pages read back (postmortem, reconciliation)",
        "block types beyond the ones the templates use are not emulated",
    ),
    Call(
        "Notion",
        "PATCH /v1/blocks/{id}/children",
        "blocks.children.append",
        "timeline entries, the rest of long pages",
        _WRITES,
    ),
    Call(
        "Slack",
        "auth.test",
        "auth_test",
        "who the bot is; its scopes; the workspace URL thread links are built from",
    ),
    Call(
        "Slack",
        "chat.postMessage",
        "chat_postMessage",
        "parent messages, replies, reminders",
        "no workspace-wide rate cap; the warning for a malformed Work Object comes from one "
        "third-party report",
    ),
    Call(
        "Slack",
        "chat.update",
        "chat_update",
        "the parent kept current",
        "the `errors` array of `invalid_blocks` is assumed to be the post's; "
        "`msg_blocks_too_long` is measured, not in the catalog",
    ),
    Call(
        "Slack",
        "chat.getPermalink",
        "chat_getPermalink",
        "the thread link, only when `auth.test` gives no workspace URL",
        "the `?thread_ts=` form of a reply's link is unverified",
    ),
    Call("Slack", "conversations.info", "conversations_info", "check: the channel"),
    Call(
        "Slack",
        "conversations.join",
        "conversations_join",
        "start: join a public channel",
        "`already_in_channel` for a private channel the bot is in is unverified",
    ),
    Call(
        "Slack",
        "conversations.history",
        "conversations_history",
        "reconciliation of parent posts",
        "no 2025 limits for apps outside the Marketplace",
    ),
    Call(
        "Slack",
        "conversations.replies",
        "conversations_replies",
        "reconciliation; read-back",
        "answers `not_in_channel`, which the catalog omits",
    ),
    Call("Slack", "users.lookupByEmail", "users_lookupByEmail", "mentions"),
)

_BLOCKS = "tests/sandbox/test_notion_blocks.py::"
_SLACK_BLOCKS = "tests/sandbox/test_slack_blocks.py::"
_CONFLICT = (
    "409 conflict_error on overlapping writes",
    "tests/sandbox/test_notion_conflicts.py::test_a_write_overlapping_another_users_write",
)
_PEOPLE_ONLY = (
    "only people in people values and mentions",
    "tests/sandbox/test_notion_users.py::test_a_bot_in_a_people_property_is_a_validation_error",
)
_NOTION_LIMITS = "tests/sandbox/test_notion_ratelimit.py::"
_WRITE_LIMITS = (
    _CONFLICT,
    _PEOPLE_ONLY,
    ("2,000 UTF-16 units per rich text", _BLOCKS + "test_text_content_is_limited_to_2000"),
    ("100 children", _BLOCKS + "test_at_most_100_children_per_request"),
    ("2 nesting levels", _BLOCKS + "test_two_levels_of_nesting_per_request"),
    ("1,000 blocks", _BLOCKS + "test_at_most_1000_blocks_per_request"),
    ("500 KB", _BLOCKS + "test_bodies_over_500_kb_are_refused"),
)
# The limits each endpoint enforces as the real one does, and the test that shows it (the
# table marks a limit whose test did not pass in this run).
LIMITS: dict[str, tuple[tuple[str, str], ...]] = {
    "POST /v1/pages": _WRITE_LIMITS,
    "PATCH /v1/pages/{id}": (_CONFLICT, _PEOPLE_ONLY),
    "PATCH /v1/blocks/{id}/children": _WRITE_LIMITS,
    # Notion's rate limits apply to every endpoint; shown once, on the poll's query.
    "POST /v1/data_sources/{id}/query": (
        (
            "a budget per connection per 60-second window, refused with a whole-second "
            "Retry-After until the reset and `rate_limit_reason` (the budget is assumed)",
            _NOTION_LIMITS + "test_a_refusal_names_the_connection_limit",
        ),
        (
            "a workspace limit shared by every connection, Retry-After beyond a minute "
            "(its numbers assumed)",
            _NOTION_LIMITS + "test_the_workspace_limit_is_shared_by_every_connection",
        ),
    ),
    "chat.postMessage": (
        ("Block Kit sizes and counts", _SLACK_BLOCKS + "test_block_kit_limits"),
        ("13,200 characters of block text", _SLACK_BLOCKS + "test_blocks_over_13200"),
        (
            "about 1 message/s per channel",
            "tests/sandbox/test_slack_ratelimit.py::test_posting_faster_than_the_channel",
        ),
        (
            "counted per app, not per token",
            "tests/sandbox/test_slack_ratelimit.py::test_peoples_posts_do_not_use_up",
        ),
    ),
    **{
        method: (
            (
                "groups:* scopes for a private channel",
                "tests/sandbox/test_slack_access.py::test_reading_a_private_channel_needs_groups",
            ),
        )
        for method in ("conversations.info", "conversations.history", "conversations.replies")
    },
    "chat.update": (
        ("Block Kit sizes and counts", _SLACK_BLOCKS + "test_chat_update_checks_blocks_too"),
        ("13,200 characters of block text", _SLACK_BLOCKS + "test_chat_update_refuses_blocks"),
        (
            "Tier 3 (50/min) per method",
            "tests/sandbox/test_slack_ratelimit.py::test_tier_limits_count_per_method",
        ),
    ),
}

NOT_COVERED = (
    "Notion: comments, file uploads, views, page move and Markdown endpoints, OAuth, webhooks, "
    "the rate limits some endpoints have of their own",
    "Slack: DMs, slash-command response URLs as messages, workspace-wide rate limits, the 2025 "
    "conversations.history limits for apps outside the Marketplace",
)


def worker_sdk_calls() -> set[str]:
    """The SDK calls in the worker's own code (not the sandbox's)."""
    notion = re.compile(r"client\.((?:[a-z_]+\.)+[a-z_]+)(?=[(,)\s])")
    slack = re.compile(r"client\.([a-z]+_[A-Za-z]+)\(")
    found: set[str] = set()
    for path in (ROOT / "worker").rglob("*.py"):
        if "sandbox" in path.parts:
            continue
        text = path.read_text("utf-8")
        found.update(m.group(1) for m in notion.finditer(text) if "." in m.group(1))
        found.update(m.group(1) for m in slack.finditer(text))
    return found


def notion_references() -> dict[str, int]:
    """Recorded real Notion answers per route (tests/reference/notion/cassettes)."""
    counts: dict[str, int] = defaultdict(int)
    for cassette in (REFERENCE / "notion" / "cassettes").glob("*.yaml"):
        data = yaml.safe_load(cassette.read_text("utf-8")) or {}
        for interaction in data.get("interactions") or []:
            request = interaction["request"]
            path = re.sub(r"^https?://[^/]+", "", str(request["uri"]).split("?")[0])
            name = endpoint(str(request["method"]), path)
            if name:
                counts[name] += 1
    return counts


def in_openapi(route: str) -> bool:
    spec = json.loads((REFERENCE / "notion" / "openapi-official.json").read_text("utf-8"))
    method, path = route.split(" ", 1)
    for spec_path, operations in spec.get("paths", {}).items():
        if re.sub(r"\{[^}]+\}", "{id}", spec_path) == path and method.lower() in operations:
            return True
    return False


def slack_reference(method: str) -> str:
    catalog = REFERENCE / "slack" / "slack-method-catalog" / f"{method}.json"
    fixtures = REFERENCE / "slack" / "slack-fixtures" / "java-slack-sdk-json-logs" / "api"
    parts = []
    if catalog.exists():
        errors = json.loads(catalog.read_text("utf-8")).get("errors") or {}
        parts.append(f"catalog ({len(errors)} errors)")
    if (fixtures / f"{method}.json").exists():
        parts.append("SDK fixture")
    return ", ".join(parts) or "—"


def run_tests(out: Path) -> int:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:xdist",
        "-p",
        "no:cacheprovider",
        "-p",
        "tests.sandbox.fidelity_plugin",
        f"--fidelity-json={out}",
        "tests/sandbox",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    print(result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr)
    return result.returncode


def _answers(requests: list[dict[str, Any]]) -> str:
    """The distinct error answers the tests provoked, most frequent first."""
    errors: dict[str, int] = defaultdict(int)
    for r in requests:
        if r["code"] or (r["status"] or 200) >= 400:
            errors[f"{r['status']} {r['code'] or ''}".strip()] += 1
    ranked = sorted(errors, key=lambda e: (-errors[e], e))
    return ", ".join(f"`{e}`" for e in ranked) or "—"


def table(observed: dict[str, Any]) -> list[str]:
    passed = {t for t, outcome in observed["outcomes"].items() if outcome == "passed"}
    by_route: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for request in observed["requests"]:
        if request["test"] in passed:
            by_route[request["endpoint"]].append(request)
    recorded = notion_references()
    lines = [
        "| service | endpoint | the worker calls it for | fidelity tests | error answers "
        "checked | limits enforced | reference material | known differences |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for call in CALLS:
        seen = by_route.get(call.route, [])
        tests = len({r["test"] for r in seen})
        if call.service == "Notion":
            spec = "OpenAPI path" if in_openapi(call.route) else "not in OpenAPI"
            reference = f"{recorded.get(call.route, 0)} recorded answers, {spec}"
        else:
            reference = slack_reference(call.route)
        lines.append(
            f"| {call.service} | `{call.route}` | {call.purpose} | {tests} | "
            f"{_answers(seen)} | {_limits(call.route, passed)} | {reference} | "
            f"{call.differences or '—'} |"
        )
    return lines


def _limits(route: str, passed: set[str]) -> str:
    shown = []
    for label, test in LIMITS.get(route, ()):
        ok = any(t.startswith(test) for t in passed)
        shown.append(label if ok else f"{label} (its test did not pass)")
    return "; ".join(shown) or "—"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", help="reuse what an earlier run observed (skip the tests)")
    args = parser.parse_args(argv)
    called = worker_sdk_calls()
    missing = called - {c.sdk for c in CALLS}
    stale = {c.sdk for c in CALLS} - called
    if args.json:
        observed = json.loads(Path(args.json).read_text("utf-8"))
        code = 0
    else:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "fidelity.json"
            code = run_tests(out)
            observed = json.loads(out.read_text("utf-8"))
    outcomes = observed["outcomes"]
    failed = sorted(t for t, o in outcomes.items() if o not in {"passed", "skipped"})
    print(f"command: make fidelity (python bench/fidelity.py); {len(outcomes)} fidelity tests")
    print()
    print("\n".join(table(observed)))
    print()
    print("Not emulated at all: " + "; ".join(NOT_COVERED) + ".")
    if failed:
        print(f"\nFAILED ({len(failed)}): " + ", ".join(failed))
    if missing or stale:
        print(
            f"\nThe table is out of date: the worker calls {sorted(missing)} (not listed) and "
            f"no longer calls {sorted(stale)} (listed)"
        )
    return 1 if code or failed or missing or stale else 0


if __name__ == "__main__":
    sys.exit(main())
