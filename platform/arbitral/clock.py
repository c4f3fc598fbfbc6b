"""The platform's clock: what time it is, injectable so that tests can move time.

Deadlines, service ladders and payment windows ask ``runtime.clock.now()``,
never ``datetime.now`` directly, so a test can run a case through a fifteen-day
answer period in milliseconds (``tests.support.clock.FakeClock``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
