"""newsfeed's domain: entries, versions, the event log, cursors, validation.

The pure core (``model``, ``validate``, ``events``, ``cursor``) does no I/O;
``store`` is the one module that speaks Redis, and ``keys`` the one place a
Redis key is spelled.
"""
