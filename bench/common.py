"""What the benchmarks share: process CPU from /proc and the Node load generator.

The benchmarks run as scripts (``python bench/bench_live.py``), so this
module is imported as ``common`` from their own directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOADGEN = ROOT / "bench" / "live" / "loadgen.js"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Loadgen:
    """The Node load generator (``bench/live/loadgen.js``), spoken to in JSON lines."""

    def __init__(self, proc: asyncio.subprocess.Process, wait: float) -> None:
        self.proc = proc
        self.wait = wait

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, wait: float = 120) -> AsyncIterator[Loadgen]:
        """A load generator for the block; ``wait``: seconds an answer may take."""
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(LOADGEN),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        try:
            yield cls(proc, wait)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    async def ask(self, wait: float | None = None, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), wait or self.wait)
        if not line:
            raise RuntimeError("the load generator died")
        answer: dict[str, Any] = json.loads(line)
        return answer
