"""``python -m arbitral``."""

from arbitral.cli import main

main()
