"""Service of process as a rule set says it is done (pure, no I/O).

::

    [service]
    # The ladder: each step sends the notice on one channel to the address the
    # party agreed to (or gave); when the channel fails, or reports nothing within
    # wait_hours, the next step is tried.
    ladder = [
      { channel = "sms", wait_hours = 24 },
      { channel = "email", wait_hours = 48 },
      { channel = "portal", wait_hours = 72 },
    ]
    # When a step counts as service: "delivered" (the channel reports the notice
    # reached the address: SMS delivery report, the recipient's mail server accepted
    # it, the party's portal inbox shows it) or "opened" (the party opened it).
    complete_when = "delivered"
    # When every step ran without service: "deemed_served" (service to an agreed
    # electronic address counts once sent, as the agreement says) or "refer_to_staff"
    # (a secretary decides: another address, service by post, public notice).
    on_exhausted = "refer_to_staff"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from arbitral.rules.checker import Checker, join

CHANNELS: Final = ("sms", "email", "portal")
COMPLETE_WHEN: Final = ("delivered", "opened")
ON_EXHAUSTED: Final = ("deemed_served", "refer_to_staff")
MAX_WAIT_HOURS: Final = 24 * 30


@dataclass(frozen=True)
class ServiceStep:
    channel: str
    wait_hours: int


@dataclass(frozen=True)
class ServiceRules:
    ladder: tuple[ServiceStep, ...]
    complete_when: str
    on_exhausted: str

    def step(self, index: int) -> ServiceStep | None:
        """The ``index``-th step of the ladder (from 0), or None past its end."""
        return self.ladder[index] if 0 <= index < len(self.ladder) else None

    def as_json(self) -> dict[str, Any]:
        return {
            "ladder": [{"channel": s.channel, "wait_hours": s.wait_hours} for s in self.ladder],
            "complete_when": self.complete_when,
            "on_exhausted": self.on_exhausted,
        }


def parse_service(c: Checker, table: Mapping[str, Any] | None, prefix: str) -> ServiceRules | None:
    if table is None:
        return None
    c.unknown(table, prefix, ("ladder", "complete_when", "on_exhausted"))
    steps = c.tables(table, prefix, "ladder", min_items=1)
    ladder: list[ServiceStep] = []
    ok = steps is not None
    for path, item in steps or []:
        c.unknown(item, path, ("channel", "wait_hours"))
        channel = c.choice(item, path, "channel", CHANNELS)
        wait = c.integer(item, path, "wait_hours", minimum=1, maximum=MAX_WAIT_HOURS)
        if channel is None or wait is None:
            ok = False
            continue
        if any(s.channel == channel for s in ladder):
            c.error(join(path, "channel"), f"{channel} is already a step of the ladder")
            ok = False
            continue
        ladder.append(ServiceStep(channel, wait))
    complete_when = c.choice(table, prefix, "complete_when", COMPLETE_WHEN)
    on_exhausted = c.choice(table, prefix, "on_exhausted", ON_EXHAUSTED)
    if not ok or complete_when is None or on_exhausted is None:
        return None
    return ServiceRules(tuple(ladder), complete_when, on_exhausted)
