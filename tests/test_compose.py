"""docker-compose.yml: one entry point over several web containers, each with
several web processes, readable by the Compose spec and docker-compose 1.x."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_one_entry_point_in_front_of_several_web_processes() -> None:
    doc = compose()
    assert "name" not in doc, "docker-compose 1.x refuses a top-level name:"
    assert "version" not in doc  # the Compose spec: no version key
    services = doc["services"]
    web, lb = services["web"], services["lb"]
    command = web["command"]
    assert command[command.index("--processes") + 1] == "auto"
    assert "ports" not in web and web["expose"] == ["8000"]
    assert lb["ports"] == ["8000:8000"]
    source = lb["volumes"][0].split(":")[0]
    config = (ROOT / source).read_text()
    assert "server-template web" in config and "web:8000" in config
    assert "option httpchk GET /readyz" in config


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose 1.x absent")
def test_docker_compose_1_reads_it() -> None:
    env = dict(os.environ, NEWSFEED_SECRET_KEY="x" * 32)
    done = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
