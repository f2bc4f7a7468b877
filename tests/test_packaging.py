"""A non-editable install (``pip install .``) holds every file the code reads beside itself: the
CRM field mappings were left out, so ``lifecycle export`` failed after such an install (review)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Data files the packages read from their own folders (not Python modules).
DATA = ("*.yaml", "*.yml", "*.j2", "*.json")


def test_every_data_file_of_a_package_is_package_data():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    package_data = config["tool"]["setuptools"]["package-data"]
    missing = []
    for package in ("features", "training", "serving", "experiments", "lifecycle_cli"):
        for path in (REPO / package).rglob("*"):
            if not path.is_file() or not any(fnmatch.fnmatch(path.name, p) for p in DATA):
                continue
            folder = path.parent.relative_to(REPO)
            owner = next(  # the innermost package holding the file
                p for p in [folder, *folder.parents] if (REPO / p / "__init__.py").exists()
            )
            inside = path.relative_to(REPO / owner).as_posix()
            globs = package_data.get(".".join(owner.parts), [])
            if not any(fnmatch.fnmatch(inside, g) for g in globs):
                missing.append(str(path.relative_to(REPO)))
    assert missing == [], f"not in [tool.setuptools.package-data]: {missing}"


def test_the_command_is_the_package_app():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["project"]["scripts"]["lifecycle"] == "lifecycle_cli.app:app"
    assert "lifecycle_cli*" in config["tool"]["setuptools"]["packages"]["find"]["include"]
