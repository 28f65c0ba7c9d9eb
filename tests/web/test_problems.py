"""Every error of the tree in feed.errors becomes one HTTP status, in one place."""

from __future__ import annotations

import inspect

import orjson

from feed import errors
from web.problems import error_problem, status_of


def test_every_error_class_has_a_status_of_its_own_or_its_family() -> None:
    classes = [
        c
        for _, c in inspect.getmembers(errors, inspect.isclass)
        if issubclass(c, errors.FeedError) and c.__module__ == errors.__name__
    ]
    assert len(classes) >= 17
    for cls in classes:
        exc = cls("x", current_version=3) if cls is errors.PreconditionFailed else cls("x")
        status, title = status_of(exc)
        if cls in (errors.FeedError, errors.ConfigError):
            assert status == 500
        else:
            # Only the root and a bad configuration are server errors of ours;
            # every other class says something a client can act on.
            assert status != 500 and title


def test_the_problem_body_names_the_field_and_the_current_version() -> None:
    response = error_problem(errors.PreconditionFailed("stale", current_version=4))
    body = orjson.loads(bytes(response.body))
    assert response.status_code == 412 and response.headers["ETag"] == '"4"'
    assert body["current_version"] == 4 and body["field"] == "If-Match"
    tagged = error_problem(
        errors.PreconditionFailed("stale", current_version=4, current_tag="0123456789abcdef")
    )
    assert tagged.headers["ETag"] == '"4.0123456789abcdef"'
    unavailable = error_problem(errors.StoreUnavailable("down"))
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"]
    assert error_problem(errors.PayloadTooLarge("big", field="body")).status_code == 413


def test_a_rate_limit_is_a_429_with_retry_after() -> None:
    response = error_problem(errors.RateLimited("too many reads", retry_after=17))
    body = orjson.loads(bytes(response.body))
    assert response.status_code == 429 and response.headers["Retry-After"] == "17"
    assert response.media_type == "application/problem+json"
    assert body["retry_after"] == 17 and body["title"] == "Too many requests"
