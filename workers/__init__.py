"""arq workers: the only path from what editors wrote to what the public sees."""
