"""What is refunded when a claim is withdrawn, by how far the case got (pure, no I/O).

::

    [refunds]
    # The first band whose `before` stage the case had not reached yet applies;
    # after the last band nothing is refunded. Rates are shares of what was paid
    # for each fee component (components not named: nothing refunded).
    withdrawal = [
      { before = "answer_period", acceptance = "0.8", handling = "1" },
      { before = "tribunal_constituted", acceptance = "0.5", handling = "0.8" },
      { before = "hearing", acceptance = "0.3", handling = "0.5" },
    ]

Stages are the states of the case lifecycle, in their order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from arbitral.rules.checker import Checker

# The lifecycle's states in the order a case passes them (arbitral.cases.domain).
STAGES: Final = (
    "filed",
    "accepted",
    "fee_paid",
    "answer_period",
    "evidence_exchange",
    "tribunal_constituted",
    "hearing",
    "deliberation",
    "ready_for_award",
)
CENT: Final = Decimal("0.01")


@dataclass(frozen=True)
class RefundBand:
    before: str
    rates: Mapping[str, Decimal]


@dataclass(frozen=True)
class RefundRules:
    withdrawal: tuple[RefundBand, ...]

    def withdrawal_rates(self, reached: str) -> Mapping[str, Decimal]:
        """The rates for a claim withdrawn once the case reached stage ``reached``."""
        if reached not in STAGES:
            raise ValueError(f"unknown stage {reached!r}")
        position = STAGES.index(reached)
        for band in self.withdrawal:
            if position < STAGES.index(band.before):
                return band.rates
        return {}

    def withdrawal_refund(self, reached: str, paid: Mapping[str, Decimal]) -> dict[str, Decimal]:
        """Per fee component, what is refunded of ``paid`` (to the cent, half up)."""
        rates = self.withdrawal_rates(reached)
        return {
            name: (amount * rates.get(name, Decimal(0))).quantize(CENT, ROUND_HALF_UP)
            for name, amount in paid.items()
        }


def parse_refunds(c: Checker, table: Mapping[str, Any] | None, prefix: str) -> RefundRules | None:
    if table is None:
        return None
    c.unknown(table, prefix, ("withdrawal",))
    bands = c.tables(table, prefix, "withdrawal", min_items=1)
    out: list[RefundBand] = []
    ok = bands is not None
    last = -1
    for path, item in bands or []:
        before = c.choice(item, path, "before", STAGES[1:])
        rates: dict[str, Decimal] = {}
        for key in item:
            if key == "before":
                continue
            rate = c.decimal(item, path, key, minimum=Decimal(0), maximum=Decimal(1))
            if rate is None:
                ok = False
            else:
                rates[key] = rate
        if before is None:
            ok = False
            continue
        position = STAGES.index(before)
        if position <= last:
            c.error(f"{path}.before", "bands must follow the lifecycle's order, each later")
            ok = False
        last = position
        out.append(RefundBand(before, rates))
    return RefundRules(tuple(out)) if ok else None
