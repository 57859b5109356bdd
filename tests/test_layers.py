"""The layers `make lint` enforces (import-linter, `pyproject.toml`) hold every module of the
worker, and the README's module map shows those same layers in the same order."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Packages placed as one unit in the layers (their modules import each other freely).
UNITS = ("store", "sandbox", "inbound")


def _layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    (contract,) = (c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "layers")
    return [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]


def _layer_of() -> dict[str, int]:
    return {name: i for i, layer in enumerate(_layers()) for name in layer}


def _modules() -> set[str]:
    found = set()
    for path in (ROOT / "worker").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[1] in UNITS:
            found.add(".".join(parts[:2]))
        elif parts[-1] != "__init__":
            found.add(".".join(parts))
    return found


def _readme_map() -> list[str]:
    """The modules of the README's map, in its order (`a.py / b.py` lines name two)."""
    readme = (ROOT / "README.md").read_text("utf-8")
    block = readme.split("```\nworker/\n", 1)[1].split("\n```", 1)[0]
    names: list[str] = []
    for line in block.splitlines():
        entry = re.match(r"  (\S+(?: / \S+)*)(?:\s|$)", line)
        if entry is None or line.startswith("  #"):
            continue  # a subfolder's line (deeper), a heading, or past the worker's folder
        folder = ""
        for shown in entry.group(1).split(" / "):
            name = shown
            if "/" in shown.rstrip("/"):  # pages/x.py: its folder goes for the next name too
                folder, _, name = shown.rpartition("/")
            module = f"{folder}/{name}".strip("/").removesuffix(".py").removesuffix("/")
            names.append("worker." + module.replace("/", "."))
    return names


def test_every_module_of_the_worker_has_its_place_in_the_layers() -> None:
    """A module left out would escape the check: place it in pyproject.toml's layers."""
    assert _modules() == set(_layer_of())


def test_the_readme_module_map_shows_the_layers_in_order() -> None:
    layer_of = _layer_of()
    shown = _readme_map()
    assert sorted(shown) == sorted(set(layer_of) - {"worker.__main__"})
    layers_shown = [layer_of[name] for name in shown]
    out_of_order = [
        (before, after)
        for before, after, a, b in zip(
            shown, shown[1:], layers_shown, layers_shown[1:], strict=False
        )
        if a > b
    ]
    assert out_of_order == []


# What builds a gateway, a state store or a runtime: only the CLI and the runtime (and the
# demo, which runs a runtime on the sandbox like `run` does).
_BUILDERS = re.compile(r"\b(NotionGateway\.build|SlackGateway\.build|Store\.open|Runtime\.build)\(")
_MAY_BUILD = {"worker/cli.py", "worker/runtime.py", "worker/demo.py"}


def test_only_the_cli_and_the_runtime_build_gateways_and_stores() -> None:
    root = Path(__file__).resolve().parents[1]
    building = sorted(
        f"{path.relative_to(root)}: {found.group(1)}"
        for path in (root / "worker").rglob("*.py")
        if str(path.relative_to(root)) not in _MAY_BUILD and "sandbox" not in path.parts
        for found in _BUILDERS.finditer(path.read_text(encoding="utf-8"))
    )
    assert building == [], "pass what these modules use in from cli or runtime"
