"""NEWSFEED_DURABILITY: the modes, their WAITAOF and the settings (no Redis)."""

from __future__ import annotations

import pytest

from feed.durability import Durability, NotDurable
from feed.errors import ConfigError
from feed.settings import Settings


def test_the_default_is_fsync() -> None:
    policy = Settings.from_env({}).durability_policy()
    assert policy == Durability("fsync", 2000)
    assert policy.commands() == [("WAITAOF", 1, 0, 2000)]
    assert policy.embedded_appendfsync() == "always"


@pytest.mark.parametrize(
    ("mode", "command", "appendfsync"),
    [
        ("fsync", [("WAITAOF", 1, 0, 500)], "always"),
        ("replica", [("WAITAOF", 1, 0, 500), ("WAIT", 1, 500)], "always"),
        ("none", [], "everysec"),
    ],
)
def test_each_mode(mode: str, command: list[tuple[object, ...]], appendfsync: str) -> None:
    env = {"NEWSFEED_DURABILITY": mode, "NEWSFEED_DURABILITY_TIMEOUT_SECONDS": "0.5"}
    policy = Settings.from_env(env).durability_policy()
    assert policy.waits == bool(command)
    assert policy.commands() == command
    assert policy.embedded_appendfsync() == appendfsync


@pytest.mark.parametrize(
    ("mode", "reply", "ok"),
    [
        ("fsync", [[1, 0]], True),
        ("fsync", [[0, 0]], False),  # the local fsync timed out
        ("fsync", [[1, 2]], True),
        ("replica", [[1, 0], 1], True),
        ("replica", [[1, 0], 0], False),  # no replica has it
        ("replica", [[0, 0], 2], False),
        ("none", [], True),
    ],
)
def test_a_reply_meets_the_mode_or_the_write_is_not_durable(
    mode: str, reply: list[object], ok: bool
) -> None:
    policy = Durability.parse(mode)
    assert policy.confirmed(reply) == ok
    if ok:
        policy.check(reply)
    else:
        with pytest.raises(NotDurable, match=f"NEWSFEED_DURABILITY={mode}"):
            policy.check(reply)


@pytest.mark.parametrize(
    "env",
    [
        {"NEWSFEED_DURABILITY": "always"},
        {"NEWSFEED_DURABILITY": "FSYNC"},
        {"NEWSFEED_DURABILITY_TIMEOUT_SECONDS": "0"},
        {"NEWSFEED_DURABILITY_TIMEOUT_SECONDS": "soon"},
    ],
)
def test_a_bad_setting_is_one_line_naming_it(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="NEWSFEED_DURABILITY") as info:
        Settings.from_env(env)
    assert "\n" not in str(info.value)
