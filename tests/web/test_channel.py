"""A channel's ring: contiguous, bounded in count and bytes (no sockets needed)."""

from __future__ import annotations

from feed.livestream import LiveMessage
from feed.stores import Stores
from web import channel
from web.channel import Channel


def _messages(start: int, n: int, size: int) -> list[LiveMessage]:
    body = b'{"id":"x","pad":"' + b"p" * size + b'"}'
    return [LiveMessage((1000 + start + i, 0), "publish", "x", 1, body) for i in range(n)]


async def test_the_ring_stays_contiguous_and_bounded(store: Stores) -> None:
    chan = Channel(store, "news", chunk_bytes=64 * 1024, linger=1)
    sent = 0
    for _ in range(30):
        chan.deliver(_messages(sent, 200, 20_000))
        sent += 200
        assert chan.ring_bytes <= 2 * channel.RING_BYTES + 200 * 61_000
        positions = [p.position for p in chan.ring]
        assert positions == sorted(positions)
        # Everything after ring_base is in the ring, up to pos: no hole.
        assert positions[0] == (chan.ring_base[0] + 1, 0) or chan.ring_base == (0, 0)
        assert positions[-1] == chan.pos == (1000 + sent - 1, 0)
    assert len(chan.ring) < 6000 and chan.ring_bytes <= 2 * channel.RING_BYTES
    # Small messages: bounded by count instead.
    for _ in range(40):
        chan.deliver(_messages(sent, 200, 10))
        sent += 200
    assert len(chan.ring) <= 2 * channel.RING
    assert [p.position for p in chan.ring][-1] == chan.pos
