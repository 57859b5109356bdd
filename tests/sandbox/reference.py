"""Shared loading of the reference material (cassettes, official OpenAPI) for emulator tests.

The reference travels with the repository in `tests/reference/` (copied from the project's
shared research, sources in its PROVENANCE.md files); `INCIDENT_WORKER_REFERENCE_DIR`
points elsewhere.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

_OPENAPI_URI = "urn:notion-openapi"


def reference_dir() -> Path:
    configured = os.environ.get("INCIDENT_WORKER_REFERENCE_DIR")
    path = Path(configured) if configured else Path(__file__).resolve().parents[1] / "reference"
    if not path.is_dir():
        raise FileNotFoundError(
            f"reference material not found at {path}; set INCIDENT_WORKER_REFERENCE_DIR"
        )
    return path


def notion_dir() -> Path:
    return reference_dir() / "notion"


@dataclass(frozen=True)
class Interaction:
    """One recorded request/response pair of a cassette (bodies parsed as JSON)."""

    method: str
    path: str
    request_body: Any
    status: int
    response: Any


def _parse(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@cache
def cassette(name: str) -> tuple[Interaction, ...]:
    """The interactions of `cassettes/<name>.yaml` (recorded against api.notion.com)."""
    data = yaml.safe_load((notion_dir() / "cassettes" / f"{name}.yaml").read_text("utf-8"))
    result = []
    for item in data["interactions"]:
        request, response = item["request"], item["response"]
        result.append(
            Interaction(
                method=request["method"],
                path=request["uri"].replace("https://api.notion.com", ""),
                request_body=_parse(request.get("body") or ""),
                status=response["status"]["code"],
                response=_parse(response["body"]["string"]),
            )
        )
    return tuple(result)


def recorded(name: str, method: str, path_prefix: str, status: int = 200) -> Any:
    """The first recorded response body of a cassette for a method and path prefix."""
    for interaction in cassette(name):
        if (
            interaction.method == method
            and interaction.path.startswith(path_prefix)
            and interaction.status == status
        ):
            return interaction.response
    raise LookupError(f"{name}: no {method} {path_prefix} answered {status}")


@cache
def openapi() -> dict[str, Any]:
    return json.loads((notion_dir() / "openapi-official.json").read_text("utf-8"))


def _relax(node: Any, schemas: dict[str, Any], done: set[str]) -> None:
    """Drop `additionalProperties: false` from an allOf member (and what it points to)."""
    if not isinstance(node, dict):
        return
    if node.get("additionalProperties") is False:
        del node["additionalProperties"]
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        if name not in done:
            done.add(name)
            _relax(schemas[name], schemas, done)
    for key in ("oneOf", "anyOf", "allOf"):
        for member in node.get(key, []):
            _relax(member, schemas, done)


def _relaxed_openapi() -> dict[str, Any]:
    """The OpenAPI document with one JSON-Schema quirk removed.

    Notion's generated schemas combine `allOf` with members that say
    `additionalProperties: false` (e.g. userObjectResponse = common fields + person fields):
    under JSON Schema no object can satisfy both, so those members are relaxed. Top-level
    object schemas (page, database, data source...) keep `additionalProperties: false`.
    """
    document = copy.deepcopy(openapi())
    schemas = document["components"]["schemas"]
    done: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for member in node.get("allOf", []):
                _relax(member, schemas, done)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return document


@cache
def _registry() -> Registry:
    resource = Resource.from_contents(_relaxed_openapi(), default_specification=DRAFT202012)
    return Registry().with_resource(_OPENAPI_URI, resource)


def _pointer_escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


@cache
def component_validator(name: str) -> Draft202012Validator:
    """Validates against `#/components/schemas/<name>` of the official OpenAPI document."""
    return Draft202012Validator(
        {"$ref": f"{_OPENAPI_URI}#/components/schemas/{name}"}, registry=_registry()
    )


@cache
def response_validator(path: str, method: str, status: str = "200") -> Draft202012Validator:
    """Validates against the documented JSON response of an operation."""
    pointer = "/".join(
        [
            "#/paths",
            _pointer_escape(path),
            method.lower(),
            "responses",
            status,
            "content",
            _pointer_escape("application/json"),
            "schema",
        ]
    )
    return Draft202012Validator({"$ref": f"{_OPENAPI_URI}{pointer}"}, registry=_registry())


def schema_errors(validator: Draft202012Validator, instance: Any) -> list[str]:
    """Readable validation errors (the deepest cause of each)."""
    messages = []
    for error in validator.iter_errors(instance):
        best = error
        while best.context:
            best = min(best.context, key=lambda e: len(e.context))
        location = "/".join(str(p) for p in best.absolute_path)
        messages.append(f"{location}: {best.message}")
    return messages


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape_differences(real: Any, ours: Any, path: str = "$") -> list[str]:
    """Where two JSON values differ in keys or value types (not in values).

    Arrays compare their first items when both have some.
    """
    real_type, our_type = json_type(real), json_type(ours)
    if real_type != our_type:
        return [f"{path}: real {real_type}, ours {our_type}"]
    if real_type == "object":
        differences = []
        for key in sorted(set(real) | set(ours)):
            if key not in ours:
                differences.append(f"{path}.{key}: missing in ours")
            elif key not in real:
                differences.append(f"{path}.{key}: not in the recording")
            else:
                differences.extend(shape_differences(real[key], ours[key], f"{path}.{key}"))
        return differences
    if real_type == "array" and real and ours:
        return shape_differences(real[0], ours[0], f"{path}[0]")
    return []
