"""NEWSFEED_SENTINELS and NEWSFEED_SENTINEL_PRIMARY: parsed once, checked (no Redis)."""

from __future__ import annotations

from typing import Any

import pytest

from feed.client import open_redis
from feed.errors import ConfigError
from feed.settings import Settings

SECRET = {"NEWSFEED_SECRET_KEY": "s" * 32}


def test_sentinels_are_a_list_of_addresses_and_mean_no_embedded_server() -> None:
    env = {**SECRET, "NEWSFEED_SENTINELS": "10.0.0.1:26379, 10.0.0.2:26380,[::1]:26381"}
    settings = Settings.from_env({**env, "NEWSFEED_SENTINEL_PRIMARY": "feeds"})
    assert settings.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 26381))
    assert settings.sentinel_primary == "feeds" and not settings.embedded
    assert Settings.from_env(env).sentinel_primary == "newsfeed"  # the default name


@pytest.mark.parametrize("bad", ["10.0.0.1", "10.0.0.1:", ":26379", "h:0", "h:99999", "h:x"])
def test_a_bad_sentinel_list_is_one_line_naming_it(bad: str) -> None:
    with pytest.raises(ConfigError, match="NEWSFEED_SENTINELS") as info:
        Settings.from_env({**SECRET, "NEWSFEED_SENTINELS": bad})
    assert "\n" not in str(info.value)


def test_sentinels_need_a_secret_key() -> None:
    with pytest.raises(ConfigError, match="NEWSFEED_SECRET_KEY"):
        Settings.from_env({"NEWSFEED_SENTINELS": "127.0.0.1:26379"})


async def test_the_client_asks_the_sentinels_for_the_named_primary() -> None:
    settings = Settings.from_env(
        {
            **SECRET,
            "NEWSFEED_SENTINELS": "127.0.0.1:26379",
            "NEWSFEED_SENTINEL_PRIMARY": "feeds",
            "REDIS_URL": "redis://app:s%40cret@ignored:1/3",
        }
    )
    client = open_redis(settings)
    try:
        pool: Any = client.connection_pool  # a SentinelConnectionPool
        kwargs = pool.connection_kwargs
        assert pool.service_name == "feeds"
        assert (kwargs["username"], kwargs["password"], kwargs["db"]) == ("app", "s@cret", 3)
        assert kwargs["decode_responses"] is False
    finally:
        await client.aclose()
