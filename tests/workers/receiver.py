"""A tiny real HTTP/1.1 server on 127.0.0.1: a partner's webhook endpoint.

Each path has a behaviour (a function of how many requests that path got:
returns the status to answer and seconds to wait first); every request is
recorded with its headers and body.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import defaultdict
from collections.abc import AsyncIterator, Callable

Behaviour = Callable[[int, dict[str, str]], tuple[int, float]]


@dataclasses.dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


def always(status: int, delay: float = 0.0) -> Behaviour:
    return lambda n, h: (status, delay)


class Receiver:
    def __init__(self) -> None:
        self.behaviours: dict[str, Behaviour] = {}
        self.received: list[Received] = []
        self.counts: defaultdict[str, int] = defaultdict(int)
        self.per_delivery: defaultdict[str, int] = defaultdict(int)
        self.in_flight = 0
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str, behaviour: Behaviour) -> str:
        self.behaviours[path] = behaviour
        return self.url(path)

    def at(self, path: str, status: int | None = None) -> list[Received]:
        return [r for r in self.received if r.path == path and status in (None, r.status)]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                _, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = h.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.counts[path] += 1
                delivery = headers.get("x-newsfeed-delivery", "")
                self.per_delivery[delivery] += 1
                behaviour = self.behaviours.get(path, always(404))
                status, delay = behaviour(self.per_delivery[delivery], headers)
                self.in_flight += 1
                try:
                    await asyncio.sleep(delay)
                finally:
                    self.in_flight -= 1
                self.received.append(Received(path, headers, body, status))
                body_out = b"" if status in (204, 304) else b"ok"
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-length: {len(body_out)}\r\n\r\n".encode()
                    + body_out
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, asyncio.CancelledError):
            return
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[Receiver]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            # Connections parked in a slow answer: stop them now.
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await server.wait_closed()
