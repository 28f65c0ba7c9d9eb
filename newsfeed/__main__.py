"""``python -m newsfeed`` is the ``newsfeed`` command."""

from newsfeed.cli import main

main()
