"""envs/speedy.yaml (the rules' conda environment) pins the same versions as requirements.lock."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
ENV_FILE = ROOT / "envs" / "speedy.yaml"
LOCK_FILE = ROOT / "requirements.lock"


def exact_pin(line: str, source: str) -> tuple[str, str]:
    """The normalised name and version of a `name==version` line; fails on anything looser."""
    requirement = Requirement(line)
    specifiers = list(requirement.specifier)
    assert len(specifiers) == 1 and specifiers[0].operator == "==", (
        f"{source}: {line!r} is not pinned to one exact version (name==version)"
    )
    return canonicalize_name(requirement.name), specifiers[0].version


def lock_pins() -> dict[str, str]:
    """Every pin of requirements.lock, by normalised name."""
    pins = {}
    for number, raw in enumerate(LOCK_FILE.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line:
            name, version = exact_pin(line, f"{LOCK_FILE.name}:{number}")
            pins[name] = version
    return pins


def env_dependencies() -> list[Any]:
    """The `dependencies` list of envs/speedy.yaml."""
    return yaml.safe_load(ENV_FILE.read_text(encoding="utf-8"))["dependencies"]


def env_pip_lines() -> list[str]:
    """The lines of the one `pip:` section of envs/speedy.yaml."""
    sections = [item["pip"] for item in env_dependencies() if isinstance(item, dict) and "pip" in item]
    assert len(sections) == 1, f"{ENV_FILE.name}: expected one `pip:` section under dependencies"
    return sections[0]


def test_env_has_pip_pins() -> None:
    assert env_pip_lines(), f"{ENV_FILE.name}: the pip section is empty"


@pytest.mark.parametrize("line", env_pip_lines())
def test_env_pin_matches_lock(line: str) -> None:
    name, version = exact_pin(line, f"{ENV_FILE.name} pip section")
    lock = lock_pins()
    assert name in lock, f"{ENV_FILE.name} pins {name}, which {LOCK_FILE.name} does not list"
    assert version == lock[name], f"{ENV_FILE.name} pins {name}=={version} but {LOCK_FILE.name} has {lock[name]}"


def test_env_python_fits_project() -> None:
    pythons = [dep for dep in env_dependencies() if isinstance(dep, str) and dep.split("=")[0] == "python"]
    assert len(pythons) == 1, f"{ENV_FILE.name}: expected one python=X.Y dependency, found {pythons}"
    version = pythons[0].split("=")[-1]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    assert SpecifierSet(requires).contains(version), f"{ENV_FILE.name}: {pythons[0]} does not fit {requires}"
