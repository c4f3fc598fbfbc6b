"""The fairness watch's figures and flags per lender (pure Python, no I/O).

In 2018 the Supreme People's Court told courts to refuse enforcement of online-lending
awards made "in advance" (先予仲裁) or without the respondent's rights to be served and to
defend actually guaranteed. A commission hearing tens of thousands of one lender's loans
needs to see, per lender, the patterns that such a practice leaves: borrowers who never
took part, a tribunal that grants everything, the same arbitrator on most cases, and
claims above the legal interest cap. The services compute the counts set-based in SQL;
this module turns them into shares and flags.

Definitions (every share is ``None`` when its denominator is 0):

* closed: rejected, awarded, settled or withdrawn (:data:`arbitral.cases.domain.CLOSED`);
  ``share_settled``, ``share_awarded``, ``share_withdrawn`` are of the closed cases;
* defaulted: an awarded case in which the respondent side left no trace of taking part:
  no answer (``case_answer``), no counterclaim, no exhibit submitted, no view recorded on
  an exhibit (cross-examination), no post in an asynchronous hearing, no video session
  held with both sides present (outcome ``held``; ``held_in_absence`` does not count), no
  settlement offer, no arbitrator nominated, no challenge. Opening the file does not
  count (reading is not defending), nor does waiving a period (giving up a right is what
  a pre-signed waiver does). ``share_defaulted`` is of the awarded cases;
* award/claim ratio: per awarded case, what the issued award orders the respondent to pay
  (see :mod:`arbitral.batches.reconciliation`) over the amount the case claimed; the
  mean and the median over the lender's awarded cases with a claim above 0;
* over the cap: the claims whose interest the loan-claim assessment found above the legal
  cap at filing (``loan_contract.over_cap``), over all the lender's claims; and the sum,
  over all its claims, of the interest claimed above what the assessment supports;
* arbitrator concentration: on the lender's awarded cases, the arbitrators sitting when the
  award was made (tribunal members not released). ``top_arbitrator_share`` is the share of
  the awarded cases on which the most frequent one sat; ``arbitrator_hhi`` the Herfindahl
  index of the seats (the sum of the squared shares of each arbitrator in all the seats:
  1.0 when one arbitrator decides everything, 1/n for n arbitrators sharing evenly).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

# An award-based flag needs at least this many awarded cases: fewer say nothing.
MIN_AWARDS: Final = 20
# arbitrator_concentration: one arbitrator sat on more than this share of the awarded
# cases, while at least MIN_ARBITRATORS arbitrators decide the commission's loan cases
# (with fewer, concentration is the panel's size, not a choice).
CONCENTRATION_SHARE: Final = 0.5
MIN_ARBITRATORS: Final = 3
# award_ratio_high: the median award grants more than this share of the claim.
AWARD_RATIO_MEDIAN: Final = 0.98
# default_rate_high: more than this share of the awarded cases went by default.
DEFAULT_SHARE: Final = 0.8
# over_cap_claims: more than this share of the claims ask interest above the legal cap.
OVER_CAP_SHARE: Final = 0.10

DIGITS: Final = 4


@dataclass(frozen=True)
class Counts:
    """What the database counted for one lender."""

    id_number: str
    name: str
    cases_filed: int
    closed: int
    rejected: int
    awarded: int
    settled: int
    withdrawn: int
    defaulted: int
    over_cap: int
    # Fen (cents): interest claimed above what the assessment supports.
    interest_over_supported: int
    ratio_mean: float | None
    ratio_median: float | None
    # Per arbitrator: the awarded cases on which they sat.
    seats: Mapping[UUID, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Flag:
    code: str
    message: str
    figures: dict[str, Any]


@dataclass(frozen=True)
class Figures:
    counts: Counts
    share_defaulted: float | None
    share_settled: float | None
    share_awarded: float | None
    share_withdrawn: float | None
    share_over_cap: float | None
    top_arbitrator: UUID | None
    top_arbitrator_share: float | None
    arbitrator_hhi: float | None
    flags: tuple[Flag, ...]

    @property
    def interest_over_supported(self) -> str:
        return f"{Decimal(self.counts.interest_over_supported) / 100:.2f}"


def share(part: int, whole: int) -> float | None:
    return round(part / whole, DIGITS) if whole else None


def concentration(
    seats: Mapping[UUID, int], awarded: int
) -> tuple[UUID | None, float | None, float | None]:
    """(top arbitrator, its share of the awarded cases, Herfindahl index of the seats)."""
    total = sum(seats.values())
    if not total or not awarded:
        return None, None, None
    # The most seats; ties go to the smallest id, so that the answer is stable.
    top = min(seats, key=lambda a: (-seats[a], str(a)))
    hhi = sum((n / total) ** 2 for n in seats.values())
    return top, round(seats[top] / awarded, DIGITS), round(hhi, DIGITS)


def flags_of(
    c: Counts,
    *,
    share_defaulted: float | None,
    share_over_cap: float | None,
    top_share: float | None,
    arbitrators_deciding: int,
) -> tuple[Flag, ...]:
    """The flags raised by one lender's figures (thresholds: the constants above)."""
    found: list[Flag] = []
    enough = c.awarded >= MIN_AWARDS
    if (
        enough
        and top_share is not None
        and top_share > CONCENTRATION_SHARE
        and arbitrators_deciding >= MIN_ARBITRATORS
    ):
        found.append(
            Flag(
                "arbitrator_concentration",
                f"one arbitrator sat on {top_share:.0%} of the lender's {c.awarded} awarded "
                f"cases while {arbitrators_deciding} arbitrators decide the commission's loan "
                "cases: check how its tribunals are appointed",
                {
                    "top_arbitrator_share": top_share,
                    "awarded": c.awarded,
                    "arbitrators_deciding": arbitrators_deciding,
                    "threshold": CONCENTRATION_SHARE,
                    "min_awards": MIN_AWARDS,
                    "min_arbitrators": MIN_ARBITRATORS,
                },
            )
        )
    if enough and c.ratio_median is not None and c.ratio_median > AWARD_RATIO_MEDIAN:
        found.append(
            Flag(
                "award_ratio_high",
                f"the median award grants {c.ratio_median:.2%} of the claim over "
                f"{c.awarded} awards: the tribunal seems to grant everything",
                {
                    "ratio_median": c.ratio_median,
                    "ratio_mean": c.ratio_mean,
                    "awarded": c.awarded,
                    "threshold": AWARD_RATIO_MEDIAN,
                    "min_awards": MIN_AWARDS,
                },
            )
        )
    if enough and share_defaulted is not None and share_defaulted > DEFAULT_SHARE:
        found.append(
            Flag(
                "default_rate_high",
                f"{share_defaulted:.0%} of the {c.awarded} awarded cases went without the "
                "respondent ever taking part: check how the borrowers were served",
                {
                    "share_defaulted": share_defaulted,
                    "defaulted": c.defaulted,
                    "awarded": c.awarded,
                    "threshold": DEFAULT_SHARE,
                    "min_awards": MIN_AWARDS,
                },
            )
        )
    if share_over_cap is not None and share_over_cap > OVER_CAP_SHARE:
        found.append(
            Flag(
                "over_cap_claims",
                f"{share_over_cap:.0%} of the lender's {c.cases_filed} claims ask interest "
                "above the legal cap",
                {
                    "share_over_cap": share_over_cap,
                    "over_cap": c.over_cap,
                    "cases_filed": c.cases_filed,
                    "interest_over_supported": f"{Decimal(c.interest_over_supported) / 100:.2f}",
                    "threshold": OVER_CAP_SHARE,
                },
            )
        )
    return tuple(found)


def figures(c: Counts, *, arbitrators_deciding: int) -> Figures:
    """A lender's shares, concentration and flags from its counts."""
    top, top_share, hhi = concentration(c.seats, c.awarded)
    share_defaulted = share(c.defaulted, c.awarded)
    share_over_cap = share(c.over_cap, c.cases_filed)
    return Figures(
        counts=c,
        share_defaulted=share_defaulted,
        share_settled=share(c.settled, c.closed),
        share_awarded=share(c.awarded, c.closed),
        share_withdrawn=share(c.withdrawn, c.closed),
        share_over_cap=share_over_cap,
        top_arbitrator=top,
        top_arbitrator_share=top_share,
        arbitrator_hhi=hhi,
        flags=flags_of(
            c,
            share_defaulted=share_defaulted,
            share_over_cap=share_over_cap,
            top_share=top_share,
            arbitrators_deciding=arbitrators_deciding,
        ),
    )


def ordered(found: Sequence[Figures]) -> list[Figures]:
    """Most flags first, then most cases, then by id number."""
    return sorted(found, key=lambda f: (-len(f.flags), -f.counts.cases_filed, f.counts.id_number))
