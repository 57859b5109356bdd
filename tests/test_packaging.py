"""What `pip install .` ships: every bundled template, where the worker looks for it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from worker.config import INSTALLED_TEMPLATES, bundled_templates

ROOT = Path(__file__).resolve().parent.parent
PREFIX = INSTALLED_TEMPLATES


def test_every_bundled_template_file_is_installed_with_the_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    data_files: dict[str, list[str]] = pyproject["tool"]["setuptools"]["data-files"]
    shipped = {
        f"{target}/{path.name}"
        for target, patterns in data_files.items()
        for pattern in patterns
        for path in ROOT.glob(pattern)
        if path.is_file()
    }
    bundled = {
        f"{PREFIX}/{path.relative_to(ROOT / 'templates').as_posix()}"
        for path in (ROOT / "templates").rglob("*")
        if path.is_file()
    }
    assert shipped == bundled


def test_an_installed_worker_finds_the_templates_under_its_prefix(tmp_path: Path) -> None:
    site = tmp_path / "lib" / "site-packages" / "worker"
    site.mkdir(parents=True)
    (site.parent / "templates").mkdir()  # some other package's folder: not ours
    user = tmp_path / "user"
    (user / INSTALLED_TEMPLATES / "en").mkdir(parents=True)
    (user / INSTALLED_TEMPLATES / "en" / "slack.toml").write_text("", "utf-8")
    prefix = tmp_path / "prefix"
    assert bundled_templates(site, [prefix, user]) == user / INSTALLED_TEMPLATES


def test_a_checkout_uses_its_own_templates_folder(tmp_path: Path) -> None:
    assert bundled_templates(ROOT / "worker", [tmp_path]) == ROOT / "templates"
