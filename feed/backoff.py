"""Reconnect backoff: exponential, jittered, capped; one policy for every loop.

The worker's duties, arq's poll loop and each web process's live readers
retry Redis with it after a failure, so many processes that lost Redis at
the same moment do not come back in lockstep.
"""

from __future__ import annotations

import asyncio
import random


class Backoff:
    """Delays of ``initial`` doubling to ``cap``, each drawn from [d/2, 3d/2).

    The cap is 2 s: a loop retries at least every 3 s, so once Redis is back
    (a restart, a Sentinel failover of ~2.5 s) its work resumes within 3 s.
    A 5 s cap left the worker's live projection up to 7.5 s behind a
    failover; the retry is one connect attempt, cheap for Redis even from
    hundreds of processes, and the jitter keeps them apart.
    """

    def __init__(self, initial: float = 0.1, cap: float = 2.0) -> None:
        self.initial = initial
        self.cap = cap
        self._delay = initial

    def reset(self) -> None:
        """After a success: the next failure starts from ``initial`` again."""
        self._delay = self.initial

    def next_delay(self) -> float:
        delay = self._delay * (0.5 + random.random())
        self._delay = min(self._delay * 2, self.cap)
        return delay

    async def sleep(self) -> float:
        """Wait the next delay; returns how long it waited."""
        delay = self.next_delay()
        await asyncio.sleep(delay)
        return delay
