"""The wheel holds every package of the source tree: each folder with an ``__init__.py`` under a
wing is listed in pyproject.toml (an editable install finds an unlisted one; a built image would not)."""

from __future__ import annotations

import tomllib
from conftest import REPO


def test_every_package_folder_is_listed():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed, roots = set(config["packages"]), config["package-dir"]
    found = set()
    for package, folder in roots.items():
        base = REPO / folder
        for init in base.rglob("__init__.py"):
            parts = init.parent.relative_to(base).parts
            if "__pycache__" not in parts:
                found.add(".".join((package, *parts)))
    assert found == listed
