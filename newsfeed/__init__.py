"""The composition root: the ``newsfeed`` command and what it starts.

It sits above the three packages and is the only place that knows them all:

    newsfeed/   cli (commands), supervisor (``newsfeed run``'s process tree),
                embedded (the wheel-shipped valkey-server), logs (JSON lines)
      │ imports
      ▼
    web/  workers/      adapters: HTTP and live sockets; the worker loops
      │ import
      ▼
    feed/               the domain: model, rules, the Redis stores

Nothing below imports anything above it.
"""
