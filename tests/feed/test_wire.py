"""The live protocol's wire format and rules: no I/O."""

from __future__ import annotations

import struct
from collections.abc import Generator

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode

from feed.cursor import Cursor, StreamBounds, resume_decision
from feed.wire import (
    http_chunk,
    overflows,
    parse_client_message,
    prepare,
    reset_reason,
    snapshot_json,
    sse_event,
    suffix_after,
    ws_frame,
)


@given(st.binary(max_size=70_000))
def test_ws_frame_is_one_final_unmasked_text_frame(payload: bytes) -> None:
    frame = ws_frame(payload)
    assert frame[0] == 0x81 and not frame[1] & 0x80  # FIN + text, no mask
    if len(payload) < 126:
        header = 2
    elif len(payload) < 65536:
        header = 4
        assert struct.unpack("!H", frame[2:4])[0] == len(payload)
    else:
        header = 10
        assert struct.unpack("!Q", frame[2:10])[0] == len(payload)
    assert frame[header:] == payload


def test_ws_frame_parses_with_the_websockets_library() -> None:
    payload = b'{"type":"pong"}' * 20

    data = ws_frame(payload)

    def read_exact(n: int) -> Generator[None, None, bytes]:
        nonlocal data
        chunk, data = data[:n], data[n:]
        yield from ()
        return chunk

    gen = Frame.parse(read_exact, mask=False)
    with pytest.raises(StopIteration) as done:
        next(gen)
    frame = done.value.value
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data == payload


def test_event_message_embeds_the_stored_entry_unchanged() -> None:
    entry = b'{"id":"a1","feed":"news","version":2,"headline":"x"}'
    p = prepare("ep01", (1700000000000, 3), "update", entry)
    assert p.cursor == "ep01.1700000000000-3"
    assert orjson.loads(p.json) == {
        "type": "update",
        "cursor": "ep01.1700000000000-3",
        "entry": orjson.loads(entry),
    }
    assert p.ws == ws_frame(p.json)
    assert p.sse == b"event: update\nid: ep01.1700000000000-3\ndata: " + p.json + b"\n\n"


def test_snapshot_and_sse_records() -> None:
    body = snapshot_json(Cursor("ep01", (5, 0)), [b'{"id":"a"}', b'{"id":"b"}'])
    assert orjson.loads(body) == {
        "type": "snapshot",
        "cursor": "ep01.5-0",
        "entries": [{"id": "a"}, {"id": "b"}],
    }
    assert orjson.loads(snapshot_json(Cursor("ep01", (0, 0)), []))["entries"] == []
    assert sse_event("reset", None, b"{}") == b"event: reset\ndata: {}\n\n"
    assert sse_event("x", "1", b"{}", retry_ms=250) == b"event: x\nid: 1\nretry: 250\ndata: {}\n\n"
    assert http_chunk(b"hello") == b"5\r\nhello\r\n"
    assert http_chunk(b"x" * 255)[:4] == b"ff\r\n"


@pytest.mark.parametrize(
    ("cursor", "reason"),
    [
        (Cursor("other", (1500, 0)), "epoch"),
        (Cursor("ep01", (500, 0)), "stale"),  # trimmed past
        (Cursor("ep01", (9000, 0)), "stale"),  # ahead of the stream
    ],
)
def test_reset_reasons(cursor: Cursor, reason: str) -> None:
    bounds = StreamBounds("ep01", last=(2000, 0), max_deleted=(1000, 0))
    assert resume_decision(cursor, bounds) == "reset"
    assert reset_reason(cursor, bounds) == reason


def test_the_slow_consumer_policy() -> None:
    assert not overflows(0, 10_000_000, 1000)  # a drained client is never cut
    assert not overflows(500, 500, 1000)
    assert overflows(501, 500, 1000)
    assert overflows(2000, 1, 1000)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('{"type":"ping"}', "ping"),
        (' {"type": "ping", "extra": 1} ', "ping"),
        ('{"type":"subscribe"}', None),
        ("[]", None),
        ("not json", None),
        (b'{"type":"ping"}', None),  # binary frames are not part of the protocol
        ('{"type":"ping","pad":"' + "x" * 5000 + '"}', None),
        (None, None),
    ],
)
def test_client_messages(data: str | bytes | None, expected: str | None) -> None:
    assert parse_client_message(data) == expected


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 3)), unique=True), st.integers(0, 60))
def test_suffix_after_is_what_follows_a_position(ids: list[tuple[int, int]], ms: int) -> None:
    ring = [prepare("e", sid, "publish", b"{}") for sid in sorted(ids)]
    position = (ms, 1)
    assert [p.position for p in suffix_after(ring, position)] == [
        sid for sid in sorted(ids) if sid > position
    ]
