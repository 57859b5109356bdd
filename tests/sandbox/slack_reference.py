"""Slack emulator tests: the reference material (samples, spec, catalog) and a served emulator.

Reference files live in `tests/reference/slack` (override with
`INCIDENT_WORKER_REFERENCE_DIR`). The java-slack-sdk json-logs samples are *union shapes*
(every field ever seen, values masked), so the check is "emulator keys ⊆ sample keys, same
value types", recursively.
"""

from __future__ import annotations

import atexit
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, reduce
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from worker.sandbox.ratelimit import RateLimit
from worker.sandbox.server import ServedApp
from worker.sandbox.slack import SlackEmulator
from worker.sandbox.slack.delivery import InboundOptions
from worker.sandbox.workspace import Workspace, make_workspace

OFF = RateLimit(0, 0)


def reference_dir() -> Path:
    override = os.environ.get("INCIDENT_WORKER_REFERENCE_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[1] / "reference"


def slack_dir() -> Path:
    path = reference_dir() / "slack"
    if not path.is_dir():
        raise FileNotFoundError(f"Slack reference material not found at {path}")
    return path


@cache
def _read(relative: str) -> Any:
    return json.loads((slack_dir() / relative).read_text(encoding="utf-8"))


def java_sample(method: str) -> dict[str, Any]:
    data: dict[str, Any] = _read(f"slack-fixtures/java-slack-sdk-json-logs/api/{method}.json")
    return data


def python_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = _read(f"slack-fixtures/python-slack-sdk/{name}.json")
    return data


def catalog(method: str) -> dict[str, Any]:
    data: dict[str, Any] = _read(f"slack-method-catalog/{method}.json")
    return data


def common_errors() -> set[str]:
    return set(_read("slack-method-catalog/common_errors.json"))


def openapi() -> dict[str, Any]:
    data: dict[str, Any] = _read("slack-web-openapi.json")
    return data


# The default success template of the 2020 document, for a method it does not have
# (apps.connections.open is newer).
_OK_ONLY = {
    "responses": {
        "200": {
            "schema": {
                "type": "object",
                "required": ["ok"],
                "properties": {"ok": {"$ref": "#/definitions/defs_ok_true"}},
            }
        }
    }
}


def _operation(method: str) -> dict[str, Any]:
    path: dict[str, Any] | None = openapi()["paths"].get(f"/{method}")
    return next(iter(path.values())) if path else _OK_ONLY


def spec_errors(method: str) -> set[str]:
    """The error enum of the method's `default` response in the 2020 OpenAPI document."""
    schema = _operation(method)["responses"].get("default", {}).get("schema", {})
    return set(schema.get("properties", {}).get("error", {}).get("enum", []))


def spec_example(method: str) -> dict[str, Any] | None:
    """The example success answer the 2020 OpenAPI document gives, if any."""
    examples = _operation(method)["responses"]["200"].get("examples", {})
    example: dict[str, Any] | None = examples.get("application/json")
    return example


def spec_success_schema(method: str) -> dict[str, Any]:
    """The method's 200 schema with the document's definitions, for jsonschema (draft 4)."""
    schema = dict(_operation(method)["responses"]["200"]["schema"])
    schema["definitions"] = openapi()["definitions"]
    return schema


def catalog_tier(method: str) -> int | None:
    """`Tier 3: 50+ per minute` → 3; `Special rate limits apply.` → None."""
    label: str = catalog(method)["rate_limit"]["label"]
    return int(label.split(":", maxsplit=1)[0].split()[1]) if label.startswith("Tier") else None


def catalog_scopes(method: str, kind: str) -> set[str]:
    return {s["name"] for s in catalog(method).get("scopes", {}).get(kind, [])}


# -- union shapes ------------------------------------------------------------------------------


def union(a: Any, b: Any) -> Any:
    """The shape that has every key of both (samples of a list merge into one element)."""
    if isinstance(a, dict) and isinstance(b, dict):
        merged = dict(a)
        for key, value in b.items():
            merged[key] = union(merged[key], value) if key in merged else value
        return merged
    if isinstance(a, list) and isinstance(b, list):
        items = a + b
        return [reduce(union, items)] if items else []
    return a if a is not None else b


@cache
def block_catalogue() -> dict[str, Any]:
    """Every block seen anywhere in the java samples, merged per block type."""
    found: dict[str, Any] = {}

    def walk(node: Any, key: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for item in node:
                if key == "blocks" and isinstance(item, dict) and "type" in item:
                    kind = item["type"]
                    found[kind] = union(found[kind], item) if kind in found else item
                walk(item, key)

    for path in sorted((slack_dir() / "slack-fixtures/java-slack-sdk-json-logs").rglob("*.json")):
        walk(json.loads(path.read_text(encoding="utf-8")), "")
    return found


_TEXT_OBJECT_KEYS = frozenset({"type", "text", "emoji", "verbatim"})


@cache
def text_object_shape() -> dict[str, Any]:
    """Every composition text object (plain_text / mrkdwn) seen in the samples, merged.

    Samples mask the `type` value, so one recording's `section.text` and another's
    `fields[0]` are the same kind of object; merging them shows all its keys.
    """
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if {"type", "text"} <= set(node) <= _TEXT_OBJECT_KEYS:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for path in sorted((slack_dir() / "slack-fixtures/java-slack-sdk-json-logs").rglob("*.json")):
        walk(json.loads(path.read_text(encoding="utf-8")))
    shape: dict[str, Any] = reduce(union, found)
    return shape


def sample_at(sample: Any, path: Iterable[str | int]) -> Any:
    """The part of a union shape at a JSON path (list indexes all map to the merged element)."""
    node = sample
    for step in path:
        if isinstance(step, int) and isinstance(node, list) and node:
            node = reduce(union, node)
        elif isinstance(step, str) and isinstance(node, dict) and step in node:
            node = node[step]
        else:
            return None
    return node


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "null"


def shape_problems(actual: Any, sample: Any, path: str = "$") -> list[str]:
    """Where `actual` has a key no sample has, or a value of another type."""
    if actual is None or sample is None:
        return []
    if _kind(actual) != _kind(sample):
        return [f"{path}: {_kind(actual)} where real responses have a {_kind(sample)}"]
    if isinstance(sample, float) and not isinstance(actual, int | float):
        return [f"{path}: not a number"]
    if isinstance(sample, int) and not isinstance(sample, bool) and isinstance(actual, float):
        return [f"{path}: a float where real responses have an integer"]
    if isinstance(actual, dict):
        if actual.get("type") in ("plain_text", "mrkdwn") and "text" in actual:
            sample = union(sample, text_object_shape())
        return _object_problems(actual, sample, path)
    if isinstance(actual, list) and sample:
        element = reduce(union, sample)
        return [
            problem
            for index, item in enumerate(actual)
            for problem in shape_problems(item, element, f"{path}[{index}]")
        ]
    return []


def _object_problems(actual: dict[str, Any], sample: dict[str, Any], path: str) -> list[str]:
    if not sample:
        return []  # a free-form map in the samples (event_payload)
    problems: list[str] = []
    for key, value in actual.items():
        here = f"{path}.{key}"
        if key not in sample:
            problems.append(f"{here}: no real response has this key")
        elif key == "blocks" and isinstance(value, list):
            problems += _block_problems(value, here)
        else:
            problems += shape_problems(value, sample[key], here)
    return problems


def _block_problems(blocks: list[Any], path: str) -> list[str]:
    catalogue = block_catalogue()
    problems: list[str] = []
    for index, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind in catalogue:
            problems += shape_problems(block, catalogue[kind], f"{path}[{index}]")
    return problems


def error_of(call: Callable[[], object]) -> str:
    """Run a call that must fail with an app error (HTTP 200); return Slack's error code."""
    with pytest.raises(SlackApiError) as failure:
        call()
    assert failure.value.response.status_code == 200
    return str(failure.value.response["error"])


# -- a served emulator --------------------------------------------------------------------------


@dataclass
class SlackHarness:
    """One emulator served on loopback, with clients for the bot and for each person."""

    emulator: SlackEmulator
    workspace: Workspace
    base_url: str

    @property
    def channel(self) -> str:
        return self.workspace.slack_channel_id

    @property
    def bot(self) -> WebClient:
        return self.client(self.workspace.slack_token)

    def person(self, index: int = 0) -> WebClient:
        return self.client(self.workspace.people[index].slack_token)

    def person_id(self, index: int = 0) -> str:
        return self.workspace.people[index].slack_id

    def post(self, text: str, **arguments: Any) -> SlackResponse:
        """chat.postMessage as the bot into #incidents."""
        return self.bot.chat_postMessage(channel=self.channel, text=text, **arguments)

    def client(self, token: str, **options: Any) -> WebClient:
        return WebClient(token=token, base_url=self.base_url, **options)

    def raw(
        self,
        method: str,
        body: bytes = b"",
        *,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        http_method: str = "POST",
        query: str = "",
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """What the SDK cannot send (GET, a `token` field, odd bodies): status, headers, JSON."""
        all_headers = dict(headers or {})
        if content_type:
            all_headers["Content-Type"] = content_type
        url = self.base_url + method + (f"?{query}" if query else "")
        data = body if http_method == "POST" else None
        request = urllib.request.Request(url, data=data, headers=all_headers, method=http_method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), json.loads(error.read())

    def admin(self, path: str, payload: Any = None, *, method: str = "GET") -> Any:
        """Call a `/_sandbox/...` admin route."""
        root = self.base_url.removesuffix("/api/")
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            root + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())


class _SwitchableApp:
    """An ASGI app that forwards to whichever emulator the current test made."""

    def __init__(self) -> None:
        self.target: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.target(scope, receive, send)


_SWITCH = _SwitchableApp()
_SERVER: list[ServedApp] = []


def _shared_server() -> ServedApp:
    """One loopback server for all Slack tests: starting uvicorn per test costs 0.2 s."""
    if not _SERVER:
        server = ServedApp(_SWITCH)
        server.start()
        atexit.register(server.stop)
        _SERVER.append(server)
    return _SERVER[0]


@contextmanager
def serve_slack(
    *,
    post_rate: RateLimit = OFF,
    tier_limits: bool = False,
    seed: int = 0,
    clock: Callable[[], float] = time.time,
    inbound: InboundOptions | None = None,
) -> Iterator[SlackHarness]:
    """A fresh emulator (limits off unless asked) served for the duration of a test."""
    workspace = make_workspace(seed)
    emulator = SlackEmulator(
        workspace, post_rate=post_rate, tier_limits=tier_limits, clock=clock, inbound=inbound
    )
    server = _shared_server()
    emulator.base_url = server.url
    _SWITCH.target = emulator.app
    try:
        yield SlackHarness(emulator, workspace, server.url + "/api/")
    finally:
        emulator.close()
        _SWITCH.target = None
