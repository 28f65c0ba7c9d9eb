"""The lock files, pyproject.toml and the Dockerfile agree.

What these catch: a dependency changed in pyproject.toml without
``scripts/lock`` (the lock would install something outside the new range, or
miss the package), a lock entry without hashes, a package the image forgets
to copy, and a build context that ships the virtualenv or the git history.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")


def pins(lock: str) -> dict[str, list[tuple[str, str | None]]]:
    """name -> [(version, marker)] from a uv/pip-compile lock file."""
    found: dict[str, list[tuple[str, str | None]]] = {}
    for line in (ROOT / lock).read_text().splitlines():
        m = PIN.match(line)
        if m:
            name, version, marker = m.groups()
            found.setdefault(canonicalize_name(name), []).append((version, marker))
    return found


def project() -> dict[str, object]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    table = data["project"]
    assert isinstance(table, dict)
    return table


def requirements(extra: str | None) -> list[Requirement]:
    table = project()
    deps = list(table["dependencies"])  # type: ignore[call-overload]
    if extra is not None:
        deps += table["optional-dependencies"][extra]  # type: ignore[index]
    return [Requirement(d) for d in deps]


def check_lock(lock: str, extra: str | None) -> None:
    locked = pins(lock)
    for req in requirements(extra):
        name = canonicalize_name(req.name)
        assert name in locked, f"{lock} lacks {req.name}: run scripts/lock"
        for version, _marker in locked[name]:
            assert req.specifier.contains(version, prereleases=True), (
                f"{lock} pins {req.name}=={version}, outside {req.specifier}: run scripts/lock"
            )


def test_runtime_lock_matches_pyproject() -> None:
    check_lock("requirements.lock", None)


def test_test_lock_matches_pyproject() -> None:
    check_lock("requirements-test.lock", "test")


def test_test_lock_agrees_with_runtime_lock() -> None:
    runtime, test = pins("requirements.lock"), pins("requirements-test.lock")
    for name, versions in runtime.items():
        assert test.get(name) == versions, f"{name}: the two locks disagree, run scripts/lock"


def test_every_pin_has_a_hash() -> None:
    for lock in ("requirements.lock", "requirements-test.lock"):
        text = (ROOT / lock).read_text()
        blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
        for block in blocks:
            if PIN.match(block.splitlines()[0]):
                assert "--hash=sha256:" in block, f"{lock}: {block.splitlines()[0]} has no hash"


def test_dockerfile_copies_every_package_and_installs_the_lock() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r /tmp/requirements.lock" in dockerfile
    assert "HEALTHCHECK" in dockerfile
    assert len(re.findall(r"^FROM ", dockerfile, re.M)) >= 2, "multi-stage"
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    includes = data["tool"]["setuptools"]["packages"]["find"]["include"]
    for pattern in includes:
        package = pattern.rstrip("*")
        assert re.search(rf"^COPY {package} ", dockerfile, re.M), f"the image lacks {package}/"


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    for path in (".git", ".venv", "var", "tests"):
        assert path in ignored, path


def test_build_backend_supports_the_license_form() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    requires = [Requirement(r) for r in data["build-system"]["requires"]]
    setuptools = next(r for r in requires if r.name == "setuptools")
    if isinstance(project()["license"], str):
        # PEP 639 license expressions need setuptools 77.
        assert not setuptools.specifier.contains("76.9"), setuptools
