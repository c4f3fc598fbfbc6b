"""The cases context: the case lifecycle, its parties, history and exhibits."""
