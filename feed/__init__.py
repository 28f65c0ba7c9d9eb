"""newsfeed's domain: entries, versions, the event log, cursors, validation.

The pure core does no I/O: ``model`` (entries, events, ``fold``,
``project``), ``validate`` (input rules, nh3), ``cursor`` (the resume rule),
``wire`` (frames built once), ``documents`` (Atom, RSS, JSON Feed),
``settings`` and ``errors`` (the one exception tree). The Redis adapters are
bundled by ``stores.Stores``; ``redis_io`` is where redis-py enters (the
client, error translation), ``scripts`` holds the Lua, and ``keys`` is the
one place a Redis key is spelled. Nothing here imports ``web``, ``workers``
or ``newsfeed``.
"""
