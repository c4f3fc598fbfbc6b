"""A batch's filings in the transparency log: one leaf per chunk, a Merkle root over its cases.

A case filed one by one is a ``case.filed`` leaf of the tenant's log. A chunk of a batch
(up to 2,000 cases, written in one transaction) is one ``batch.cases_filed`` leaf whose
``cases_root`` is the Merkle tree hash (RFC 9162, the log's own hashing) over the
chunk's *filing entries* in row order, one per case: its id, number, case type, rule
set and version, filing time, filer, batch and row, and the SHA-256 of the claim as
filed. Per case that is one hash in memory instead of a leaf and two tree nodes in the
database (three rows of 14 that a batch case wrote, and their canonical JSON).

Nothing is lost: the entry of a case is rebuilt from its ``file`` history event (the
append-only ``case_event``, which names the chunk's leaf), so

* :func:`receipt` gives a case's entry, its audit path to ``cases_root`` and the log's
  receipt for the chunk's leaf: checked offline like any receipt, then one more climb;
* :func:`verify` rebuilds every chunk's root from the history and compares it with the
  log: a filing altered after the fact shows as a chunk that does not match.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from arbitral.auth.domain import Principal
from arbitral.db.values import as_datetime
from arbitral.errors import NotFound
from arbitral.identity.services import tenant_of
from arbitral.ledger import merkle
from arbitral.ledger import services as ledger
from arbitral.ledger.domain import b64

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime

KIND: Final = "batch.cases_filed"


def entry(case_id: UUID | str, filed_at: datetime, filed_by: str, data: Mapping[str, Any]) -> bytes:
    """A case's filing entry, from what its ``file`` event holds (``data``, its time and
    actor): canonical JSON (RFC 8785; strings and integers only). The writer and the
    verifier both call this, so they cannot disagree on what an entry is."""
    return json.dumps(
        {
            "case_id": str(case_id),
            "number": data["number"],
            "case_type": data["case_type"],
            "rule_set": data["rule_set"],
            "rule_set_version": data["rule_set_version"],
            "filed_at": filed_at.isoformat(),
            "filed_by": filed_by,
            "batch_id": data["batch"],
            "row": int(data["row"]),
            "claim_sha256": data["claim_sha256"],
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    ).encode("utf-8")


def chunk_leaf(
    batch_id: UUID, rows: Sequence[int], numbers: Sequence[str], entries: Sequence[bytes]
) -> dict[str, Any]:
    """The log entry of a chunk: its batch, rows, case numbers and the root over its cases."""
    root = merkle.tree_root([merkle.leaf_hash(e) for e in entries])
    return {
        "batch_id": str(batch_id),
        "rows": [rows[0], rows[-1]],
        "numbers": [numbers[0], numbers[-1]],
        "cases": len(entries),
        "cases_root": root.hex(),
    }


def _event_data(row: Mapping[str, Any]) -> dict[str, Any]:
    data = row["data"]
    return dict(json.loads(data) if isinstance(data, str) else data)


def _entry_of(row: Mapping[str, Any]) -> bytes:
    """The filing entry of a case, from its ``file`` event row."""
    return entry(row["case_id"], as_datetime(row["at"]), str(row["actor"]), _event_data(row))


async def _file_events(
    uow: UnitOfWork, tenant_id: UUID, batch_id: UUID, rows: tuple[int, int] = (1, 2**31 - 1)
) -> list[dict[str, Any]]:
    """The ``file`` events of the batch's cases (of rows ``rows``, inclusive), in row order."""
    return await uow.fetch(
        "SELECT e.case_id, e.at, e.actor, e.data, c.row_no FROM loan_contract c "
        "JOIN case_event e ON e.tenant_id = c.tenant_id AND e.case_id = c.case_id "
        "AND e.seq = 1 WHERE c.tenant_id = {} AND c.batch_id = {} "
        "AND c.row_no BETWEEN {} AND {} ORDER BY c.row_no",
        tenant_id,
        batch_id,
        rows[0],
        rows[1],
    )


async def _leaf(uow: UnitOfWork, tenant_id: UUID, index: int) -> dict[str, Any]:
    [record] = await ledger.leaves(uow, tenant_id, index, index + 1)
    return dict(json.loads(record.leaf))


@dataclass(frozen=True)
class FilingCheck:
    batch_id: str
    cases: int
    chunks: int
    matching: int
    altered_chunks: list[int]  # leaf indexes whose root the history no longer gives

    @property
    def ok(self) -> bool:
        return not self.altered_chunks and self.matching == self.chunks


async def verify(runtime: Runtime, principal: Principal, batch_id: UUID) -> FilingCheck:
    """Every chunk of the batch: its cases' entries, rebuilt from the history, against the
    root the log holds."""
    from arbitral.batches.services import access_batch  # (services -> bulk -> this module)

    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        await access_batch(uow, principal, batch_id)
        events = await _file_events(uow, tenant_id, batch_id)
        chunks: dict[int, list[bytes]] = {}
        for row in events:
            chunks.setdefault(int(_event_data(row)["filing_leaf"]), []).append(_entry_of(row))
        altered: list[int] = []
        for index, entries in chunks.items():
            logged = await _leaf(uow, tenant_id, index)
            root = merkle.tree_root([merkle.leaf_hash(e) for e in entries])
            if (
                logged.get("kind") != KIND
                or logged.get("batch_id") != str(batch_id)
                or logged.get("cases") != len(entries)
                or logged.get("cases_root") != root.hex()
            ):
                altered.append(index)
    return FilingCheck(
        batch_id=str(batch_id),
        cases=len(events),
        chunks=len(chunks),
        matching=len(chunks) - len(altered),
        altered_chunks=sorted(altered),
    )


async def receipt(
    runtime: Runtime, principal: Principal, batch_id: UUID, case_id: UUID
) -> dict[str, Any]:
    """A case's filing receipt: its entry, the path to its chunk's root, the chunk's receipt.

    Checking it: ``leaf_hash(entry)`` climbs ``path`` (RFC 9162 §2.1.3.2, leaf ``index``
    of ``size``) to ``cases_root`` of the receipt's leaf; that leaf is in the signed tree
    (:func:`arbitral.ledger.domain.verify_receipt`).
    """
    from arbitral.batches.services import access_batch  # (services -> bulk -> this module)

    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        await access_batch(uow, principal, batch_id)
        mine = await uow.fetch(
            "SELECT e.data FROM loan_contract c JOIN case_event e ON e.tenant_id = c.tenant_id "
            "AND e.case_id = c.case_id AND e.seq = 1 "
            "WHERE c.tenant_id = {} AND c.batch_id = {} AND c.case_id = {}",
            tenant_id,
            batch_id,
            case_id,
        )
        if not mine or "filing_leaf" not in _event_data(mine[0]):
            raise NotFound("no such case in this batch")
        leaf_index = int(_event_data(mine[0])["filing_leaf"])
        logged = await _leaf(uow, tenant_id, leaf_index)
        first, last = logged["rows"]
        events = [
            row
            for row in await _file_events(uow, tenant_id, batch_id, (int(first), int(last)))
            if int(_event_data(row).get("filing_leaf", -1)) == leaf_index
        ]
    entries = [_entry_of(row) for row in events]
    position = next(i for i, row in enumerate(events) if str(row["case_id"]) == str(case_id))
    hashes = [merkle.leaf_hash(e) for e in entries]
    return {
        "entry": entries[position].decode("utf-8"),
        "index": position,
        "size": len(entries),
        "path": [b64(h) for h in merkle.tree_path(hashes, position)],
        "cases_root": logged["cases_root"],
        "ledger_receipt": await ledger.receipt(runtime, tenant_id, leaf_index),
    }
