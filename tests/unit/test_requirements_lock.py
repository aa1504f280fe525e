"""requirements.lock is what `make setup` installs: it must still satisfy every line of requirements*.txt
(a pin changed there without `make lock` would otherwise be silently ignored)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
INPUTS = ("requirements.txt", "requirements-dev.txt")


def _lines(name: str) -> list[str]:
    text = (ROOT / name).read_text()
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def _locked() -> dict[str, list[Version]]:
    """Package -> pinned versions (a universal lock may pin one per Python version, under markers)."""
    pins: dict[str, list[Version]] = defaultdict(list)
    for line in _lines("requirements.lock"):
        requirement = Requirement(line)
        (spec,) = requirement.specifier  # every line of a lock is one exact pin
        assert spec.operator == "==", line
        pins[canonicalize_name(requirement.name)].append(Version(spec.version))
    return pins


def test_every_lock_line_is_an_exact_pin() -> None:
    assert len(_locked()) > 100


@pytest.mark.parametrize("line", [line for name in INPUTS for line in _lines(name)])
def test_lock_satisfies_requirement(line: str) -> None:
    requirement = Requirement(line)
    versions = _locked().get(canonicalize_name(requirement.name))
    assert versions, f"{requirement.name} is not in requirements.lock: run `make lock`"
    wrong = [v for v in versions if not requirement.specifier.contains(v, prereleases=True)]
    assert not wrong, f"requirements.lock pins {requirement.name} {wrong}, not {requirement.specifier}: run `make lock`"
