"""``newsfeed web --processes N``: N web processes on one listening port.

The parent binds the port once and hands the listening socket to N children
(``newsfeed web --listen-fd FD``, the socket passed down as an inherited
file descriptor). Each child is a whole ``newsfeed web``: its own event
loop, its own live hub (one Redis reader per active feed), its own
connections; the kernel gives each new connection to one of the processes
accepting on the shared socket. Redis load grows with processes x feeds,
never with readers.

SIGTERM or SIGINT to the parent is passed to every child at once, so they
drain together (each closes its live connections with a reconnect hint,
then finishes its requests); the parent exits when all have. A child that
dies on its own is started again (after a second), so a crash costs its own
connections only, and the port never stops being served.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time

from feed.errors import ConfigError
from feed.settings import Settings

log = logging.getLogger("newsfeed")

RESTART_DELAY = 1.0
STOP_SECONDS = 30.0


def process_count(raw: str) -> int:
    """``N`` (1-256) or ``auto`` (the cores this process may run on)."""
    if raw == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    try:
        n = int(raw)
    except ValueError:
        raise ConfigError(f"--processes {raw!r} is not a number or 'auto'") from None
    if not 1 <= n <= 256:
        raise ConfigError("--processes must be between 1 and 256")
    return n


def listen(settings: Settings, backlog: int = 4096) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {settings.host}:{settings.port}: {exc}") from None
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def adopt(fd: int) -> socket.socket:
    """The listening socket a parent passed down (``--listen-fd``)."""
    sock = socket.socket(fileno=fd)
    if sock.type != socket.SOCK_STREAM:
        raise ConfigError(f"--listen-fd {fd} is not a stream socket")
    return sock


class WebPool:
    def __init__(self, settings: Settings, processes: int) -> None:
        self.settings = settings
        self.processes = processes
        self.sock = listen(settings)
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def _spawn(self, slot: int) -> None:
        fd = self.sock.fileno()
        args = [sys.executable, "-m", "newsfeed", "web", "--listen-fd", str(fd)]
        args += ["--host", self.settings.host, "--port", str(self.settings.port)]
        self.children[slot] = subprocess.Popen(args, pass_fds=(fd,))

    def run(self) -> int:
        def stop(signum: int, frame: object) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        for slot in range(self.processes):
            self._spawn(slot)
        log.info(
            "newsfeed web: %d processes on %s:%d",
            self.processes,
            self.settings.host,
            self.settings.port,
        )
        died: dict[int, float] = {}
        try:
            while not self.stopping:
                for slot, child in list(self.children.items()):
                    if child.poll() is not None and slot not in died:
                        log.warning("web process %d exited with %s", child.pid, child.returncode)
                        died[slot] = time.monotonic() + RESTART_DELAY
                for slot, when in list(died.items()):
                    if time.monotonic() >= when and not self.stopping:
                        del died[slot]
                        self._spawn(slot)
                time.sleep(0.1)
        finally:
            self._stop_all()
        return 0

    def _stop_all(self) -> None:
        """SIGTERM to every child at once; wait for all; the socket closes last."""
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for child in self.children.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.sock.close()
