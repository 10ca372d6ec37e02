"""`make run`: the whole mesh as local processes, for development and the tutorial."""
