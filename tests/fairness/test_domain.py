"""The fairness watch's shares, concentration and flags, at and around each threshold."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from arbitral.fairness import domain
from arbitral.fairness.domain import Counts

A, B, C = (uuid.UUID(int=i) for i in (1, 2, 3))


def counts(**changes: object) -> Counts:
    """A lender with nothing to flag: 40 claims, 20 awards, none of them suspicious."""
    base = Counts(
        id_number="91440101MA5CXXXX1A",
        name="贷款公司",
        cases_filed=40,
        closed=30,
        rejected=2,
        awarded=20,
        settled=5,
        withdrawn=3,
        defaulted=10,
        over_cap=4,
        interest_over_supported=12_345,
        ratio_mean=0.8,
        ratio_median=0.8,
        seats={A: 10, B: 6, C: 4},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def codes(c: Counts, arbitrators: int = 3) -> list[str]:
    return [f.code for f in domain.figures(c, arbitrators_deciding=arbitrators).flags]


def test_shares_and_concentration() -> None:
    f = domain.figures(counts(), arbitrators_deciding=3)
    assert (f.share_awarded, f.share_settled, f.share_withdrawn) == (0.6667, 0.1667, 0.1)
    assert f.share_defaulted == 0.5
    assert f.share_over_cap == 0.1
    assert f.interest_over_supported == "123.45"
    assert f.top_arbitrator == A
    assert f.top_arbitrator_share == 0.5
    # (10² + 6² + 4²) / 20² = 152 / 400
    assert f.arbitrator_hhi == 0.38
    assert f.flags == ()


def test_nothing_to_divide_by() -> None:
    f = domain.figures(
        counts(cases_filed=0, closed=0, awarded=0, defaulted=0, over_cap=0, seats={}),
        arbitrators_deciding=0,
    )
    assert f.share_awarded is None
    assert f.share_defaulted is None
    assert f.share_over_cap is None
    assert (f.top_arbitrator, f.top_arbitrator_share, f.arbitrator_hhi) == (None, None, None)


def test_a_three_member_tribunal_counts_every_seat() -> None:
    # 4 awards, each before A, B and C: A sat on all of them, and the seats are even.
    top, share, hhi = domain.concentration({A: 4, B: 4, C: 4}, 4)
    assert (top, share, hhi) == (A, 1.0, 0.3333)


def test_arbitrator_concentration_at_its_threshold() -> None:
    assert "arbitrator_concentration" not in codes(counts(seats={A: 10, B: 10}))  # 50%
    assert "arbitrator_concentration" in codes(counts(seats={A: 11, B: 9}))  # 55%
    # Too few awards to judge, or too few arbitrators deciding for a choice to exist.
    few = counts(awarded=19, seats={A: 18, B: 1})
    assert "arbitrator_concentration" not in codes(few)
    assert "arbitrator_concentration" not in codes(counts(seats={A: 11, B: 9}), arbitrators=2)
    flag = domain.figures(counts(seats={A: 11, B: 9}), arbitrators_deciding=3).flags[0]
    assert flag.figures["top_arbitrator_share"] == 0.55
    assert flag.figures["arbitrators_deciding"] == 3


def test_award_ratio_high_at_its_threshold() -> None:
    assert "award_ratio_high" not in codes(counts(ratio_median=0.98))
    assert "award_ratio_high" in codes(counts(ratio_median=0.9801))
    assert "award_ratio_high" not in codes(counts(ratio_median=1.0, awarded=19))
    assert "award_ratio_high" not in codes(counts(ratio_median=None))


def test_default_rate_high_at_its_threshold() -> None:
    assert "default_rate_high" not in codes(counts(defaulted=16))  # 80%
    assert "default_rate_high" in codes(counts(defaulted=17))  # 85%
    assert "default_rate_high" not in codes(counts(awarded=19, defaulted=19))


def test_over_cap_claims_at_its_threshold() -> None:
    assert "over_cap_claims" not in codes(counts(over_cap=4))  # 10%
    assert "over_cap_claims" in codes(counts(over_cap=5))  # 12.5%
    flag = next(
        f
        for f in domain.figures(counts(over_cap=5), arbitrators_deciding=3).flags
        if f.code == "over_cap_claims"
    )
    assert flag.figures == {
        "share_over_cap": 0.125,
        "over_cap": 5,
        "cases_filed": 40,
        "interest_over_supported": "123.45",
        "threshold": domain.OVER_CAP_SHARE,
    }
    assert "40 claims" in flag.message


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        ([("b", 1, 5), ("a", 0, 5), ("c", 0, 9)], ["b", "c", "a"]),
        ([("a", 0, 1), ("b", 0, 1)], ["a", "b"]),
    ],
)
def test_the_most_flagged_lenders_first(
    found: list[tuple[str, int, int]], expected: list[str]
) -> None:
    figures = []
    for id_number, over, filed in found:
        c = counts(
            id_number=id_number, cases_filed=filed, over_cap=over * filed, awarded=0, seats={}
        )
        figures.append(domain.figures(c, arbitrators_deciding=3))
    assert [f.counts.id_number for f in domain.ordered(figures)] == expected
