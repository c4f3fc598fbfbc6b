"""Piccolo migrations of the ``arbitral`` app, applied in ID order by ``arbitral migrate``."""
