"""Service of process as a ladder of channels (pure Python, no I/O).

A notice is served on one party by the ladder of the case's rule set
(:class:`arbitral.rules.service.ServiceRules`): step 0's channel first, to the
party's address for it (a step without one is skipped), then, when that
channel fails or reports nothing within the step's ``wait_hours``, the next.

What each channel can report, and what counts:

* ``sms``: sent (the gateway took it), then delivered or failed (the
  carrier's delivery report).
* ``email``: delivered when the mail server accepted the message for the
  address, failed when it refused it.
* ``portal``: sent (the notice is in the party's inbox), delivered (the inbox
  was shown to the party), opened (the party opened the notice).

``complete_when = "delivered"``: the first delivery (or opening) on any
channel serves the notice, even one reported after the ladder moved on (the
notice did reach the party). ``"opened"``: only an opening serves it; only the
portal can observe one. When the ladder runs out, ``on_exhausted`` decides:
``deemed_served`` counts the notice served once it was sent to an agreed
address that did not refuse it (at least one attempt sent and not failed);
with nothing sent, or under ``refer_to_staff``, a secretary decides.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from arbitral.rules.service import ServiceRules, ServiceStep


class Notice(StrEnum):
    """The notices the platform serves (template names, as the rule set lists them)."""

    ACCEPTANCE = "notice-of-acceptance"
    ARBITRATION = "notice-of-arbitration"
    TRIBUNAL = "notice-of-tribunal"
    HEARING = "notice-of-hearing"
    AWARD = "notice-of-award"  # the award is issued: where to read it, how to check it


# The notices served also as a formal document (a signed PDF, ``case_document`` of this
# kind); the notice of an award serves a document that is already one (the award).
DOCUMENT_KINDS: Final[dict[str, str]] = {
    Notice.ACCEPTANCE.value: "notice_of_acceptance",
    Notice.ARBITRATION.value: "notice_of_arbitration",
    Notice.TRIBUNAL.value: "notice_of_constitution",
    Notice.HEARING.value: "notice_of_hearing",
}
CERTIFICATE_KIND: Final = "certificate_of_service"


class Outcome(StrEnum):
    """What a channel reported about one attempt."""

    SENT = "sent"
    DELIVERED = "delivered"
    OPENED = "opened"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


class AttemptStatus(StrEnum):
    SKIPPED = "skipped"  # no address for the channel
    QUEUED = "queued"  # handed to the delivery outbox
    SENT = "sent"
    DELIVERED = "delivered"
    OPENED = "opened"
    FAILED = "failed"
    TIMED_OUT = "timed_out"  # nothing reported within wait_hours


class RequestStatus(StrEnum):
    SERVING = "serving"
    SERVED = "served"
    REFERRED = "referred"  # to the commission's staff
    STOPPED = "stopped"  # the case's service was recorded complete by other hands


class Basis(StrEnum):
    """Why a notice counts as served (on the certificate)."""

    DELIVERED = "delivered"
    OPENED = "opened"
    DEEMED = "deemed"  # the ladder ran out after sending to an agreed address
    STAFF = "staff"  # served by other means, recorded by a secretary


class Decision(StrEnum):
    COMPLETE = "complete"  # the notice is served
    ADVANCE = "advance"  # try the next step
    WAIT = "wait"  # nothing to do yet
    IGNORE = "ignore"  # a report that changes nothing (late, or the request is settled)


# How far an attempt has got: an outcome never moves it back (reports come twice, late,
# or out of order).
_RANK: Final = {
    AttemptStatus.SKIPPED: 0,
    AttemptStatus.QUEUED: 1,
    AttemptStatus.SENT: 2,
    AttemptStatus.TIMED_OUT: 3,
    AttemptStatus.FAILED: 4,
    AttemptStatus.DELIVERED: 5,
    AttemptStatus.OPENED: 6,
}


def advances(current: AttemptStatus, outcome: Outcome) -> bool:
    """True when ``outcome`` moves an attempt that is ``current`` forward.

    A delivery or an opening beats everything before it (an SMS timed out and
    then delivered was delivered); nothing beats a delivery but an opening; a
    failure after a delivery is not believed.
    """
    new = AttemptStatus(outcome.value)
    if current is AttemptStatus.SKIPPED:
        return False
    if current in (AttemptStatus.DELIVERED, AttemptStatus.OPENED):
        return new is AttemptStatus.OPENED and current is AttemptStatus.DELIVERED
    if current in (AttemptStatus.FAILED, AttemptStatus.TIMED_OUT):
        return new in (AttemptStatus.DELIVERED, AttemptStatus.OPENED)
    return _RANK[new] > _RANK[current]


def decide(rules: ServiceRules, *, outcome: Outcome, current_step: bool, serving: bool) -> Decision:
    """What the request does when one of its attempts reports ``outcome``.

    ``current_step``: the attempt is the ladder's current step (a failure or a
    timeout of an earlier step changes nothing); ``serving``: the request is
    still being served (once served or referred, reports are only recorded).
    """
    if not serving:
        return Decision.IGNORE
    if outcome is Outcome.OPENED:
        return Decision.COMPLETE
    if outcome is Outcome.DELIVERED:
        return Decision.COMPLETE if rules.complete_when == "delivered" else Decision.WAIT
    if outcome in (Outcome.FAILED, Outcome.TIMED_OUT):
        return Decision.ADVANCE if current_step else Decision.IGNORE
    return Decision.WAIT


@dataclass(frozen=True)
class Addresses:
    """Where a party can be reached on each channel (None: not on that channel)."""

    sms: str | None = None
    email: str | None = None
    portal: str | None = None  # the party's account id

    def for_channel(self, channel: str) -> str | None:
        found: str | None = getattr(self, channel, None)
        return found


@dataclass(frozen=True)
class Step:
    index: int
    step: ServiceStep
    destination: str


@dataclass(frozen=True)
class Plan:
    """The next step to try (None: the ladder is exhausted) and the steps skipped to it."""

    next: Step | None
    skipped: tuple[tuple[int, ServiceStep], ...]


def plan_from(rules: ServiceRules, addresses: Addresses, start: int) -> Plan:
    """The first step at or after ``start`` with an address, and those skipped on the way."""
    skipped: list[tuple[int, ServiceStep]] = []
    index = start
    while (step := rules.step(index)) is not None:
        destination = addresses.for_channel(step.channel)
        if destination:
            return Plan(Step(index, step, destination), tuple(skipped))
        skipped.append((index, step))
        index += 1
    return Plan(None, tuple(skipped))


def on_exhausted(rules: ServiceRules, statuses: Sequence[AttemptStatus]) -> Basis | None:
    """When the ladder ran out: :attr:`Basis.DEEMED`, or None (refer to the staff).

    Deemed service needs an attempt that was sent and never refused: a notice
    that reached no address at all is not served by any agreement.
    """
    if rules.on_exhausted != "deemed_served":
        return None
    sent = (AttemptStatus.SENT, AttemptStatus.TIMED_OUT, AttemptStatus.DELIVERED)
    return Basis.DEEMED if any(s in sent for s in statuses) else None


def rules_from_json(data: Mapping[str, Any]) -> ServiceRules:
    """The rules snapshot kept on a request, back as :class:`ServiceRules`."""
    return ServiceRules(
        ladder=tuple(ServiceStep(str(s["channel"]), int(s["wait_hours"])) for s in data["ladder"]),
        complete_when=str(data["complete_when"]),
        on_exhausted=str(data["on_exhausted"]),
    )


# -- the certificate of service (送达回证) ------------------------------------------------


def certificate_digest(text: str) -> str:
    """SHA-256 (hex) of the certificate's text, as logged in the transparency log."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# -- staff service by other means ------------------------------------------------------

STAFF_METHODS: Final = ("post", "in_person", "public_notice", "other_address", "other")
MAX_REASON: Final = 2000


def staff_problems(method: str, reason: str) -> list[tuple[str, str, str]]:
    """(field, rule, message) for a record of service by other means that cannot stand."""
    problems: list[tuple[str, str, str]] = []
    if method not in STAFF_METHODS:
        problems.append(("$.method", "choice", f"one of {', '.join(STAFF_METHODS)}"))
    if not reason.strip():
        problems.append(("$.reason", "required", "say how and where the notice was served"))
    elif len(reason) > MAX_REASON:
        problems.append(("$.reason", "max_length", f"at most {MAX_REASON} characters"))
    return problems
