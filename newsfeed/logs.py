"""Structured logs: one JSON object per line on stderr.

Each line has ``ts``, ``level``, ``logger``, ``msg``; ``request_id`` when it
was written while a web request ran (``feed.context.REQUEST_ID``, set by
``web.access``), and the access log's fields (``method``, ``path``,
``status``, ``bytes``, ``duration_ms``, ``client``) on its lines.
"""

from __future__ import annotations

import logging
import sys
import time

import orjson

from feed.context import REQUEST_ID

FIELDS = ("method", "path", "status", "bytes", "duration_ms", "client")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = REQUEST_ID.get()
        if rid is not None:
            data["request_id"] = rid
        for name in FIELDS:
            if name in record.__dict__:
                data[name] = record.__dict__[name]
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(data).decode()


def setup(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq", "arq.worker"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
