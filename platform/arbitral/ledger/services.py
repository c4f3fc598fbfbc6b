"""The per-tenant transparency log in the database: append, heads, proofs, verification.

Appends run inside the caller's unit of work, so an item and its leaf are
committed together or not at all. Each append locks the tenant's
``ledger_state`` row (``FOR UPDATE`` on PostgreSQL; SQLite has one writer):
leaf indexes are gapless and the stored subtree hashes always describe the
leaves. :func:`append_many` logs a whole batch with one multi-row insert per
table, computing the new subtree hashes in memory.

Roots and proofs for any tree size read only the O(log n) stored subtree
hashes they need (:mod:`arbitral.ledger.merkle` plans them), in one query.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import structlog

from arbitral.db.bulk import columns, insert_rows
from arbitral.db.values import as_datetime
from arbitral.ledger import merkle
from arbitral.ledger.domain import (
    ConsistencyProof,
    InclusionProof,
    LedgerError,
    SignedHead,
    TreeHead,
    make_leaf,
    make_receipt,
)

if TYPE_CHECKING:
    from arbitral.db.engine import Database
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime
    from arbitral.storage.interfaces import ObjectStore

log = structlog.get_logger(__name__)

NodeKey = tuple[int, int]


@dataclass(frozen=True)
class Appended:
    leaf_index: int
    leaf: bytes
    leaf_hash: bytes


def _bytes(value: Any) -> bytes:
    return bytes(value) if not isinstance(value, bytes) else value


async def _lock_size(uow: UnitOfWork, tenant_id: UUID) -> int:
    """The log's size, with its state row locked until the transaction ends."""
    lock = " FOR UPDATE" if uow.is_postgres else ""
    for _ in range(2):
        rows = await uow.fetch(
            f"SELECT size FROM ledger_state WHERE tenant_id = {{}}{lock}",  # noqa: S608 (no input)
            tenant_id,
        )
        if rows:
            return int(rows[0]["size"])
        await uow.execute(
            "INSERT INTO ledger_state (id, tenant_id, size, updated_at) VALUES ({}, {}, 0, {}) "
            "ON CONFLICT (tenant_id) DO NOTHING",
            uuid4(),
            tenant_id,
            datetime.now(UTC),
        )
    raise RuntimeError("the ledger state row could not be created")


async def size_of(uow: UnitOfWork, tenant_id: UUID) -> int:
    rows = await uow.fetch("SELECT size FROM ledger_state WHERE tenant_id = {}", tenant_id)
    return int(rows[0]["size"]) if rows else 0


async def _nodes(uow: UnitOfWork, tenant_id: UUID, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    found: dict[NodeKey, bytes] = {}
    for start in range(0, len(wanted), 200):
        chunk = wanted[start : start + 200]
        # One point lookup per node, joined by UNION ALL: each uses the unique index
        # (a long OR makes SQLite's planner fall back to scanning the tenant's nodes).
        point = (
            "SELECT level, node_index, hash FROM ledger_node "
            "WHERE tenant_id = {} AND level = {} AND node_index = {}"
        )
        args: list[Any] = []
        for level, index in chunk:
            args += [tenant_id, level, index]
        rows = await uow.fetch(" UNION ALL ".join(point for _ in chunk), *args)
        for row in rows:
            found[(int(row["level"]), int(row["node_index"]))] = _bytes(row["hash"])
    missing = [key for key in wanted if key not in found]
    if missing:
        raise LedgerError(f"the stored tree lacks nodes {missing[:5]} (run arbitral ledger verify)")
    return found


LEAF_COLUMNS = columns(
    "id:newid tenant_id:uuid leaf_index:int8 kind:text leaf:text leaf_hash:bytea "
    "recorded_at:timestamptz"
)
NODE_COLUMNS = columns("id:newid tenant_id:uuid level:int2 node_index:int8 hash:bytea")


async def append(uow: UnitOfWork, tenant_id: UUID, kind: str, entry: Mapping[str, Any]) -> Appended:
    """Log one entry in ``uow`` (the caller's transaction)."""
    [appended] = await append_many(uow, tenant_id, kind, [entry])
    return appended


async def append_many(
    uow: UnitOfWork, tenant_id: UUID, kind: str, entries: Sequence[Mapping[str, Any]]
) -> list[Appended]:
    """Log ``entries`` in order, in ``uow``; their leaf indexes are consecutive."""
    if not entries:
        return []
    size = await _lock_size(uow, tenant_id)
    # Every left sibling a batch needs is a complete subtree of the tree before it (the
    # tree's "frontier", one per bit of its size) or is made by the batch itself.
    nodes = await _nodes(uow, tenant_id, merkle.plan_append(size) | merkle.plan_root(size))
    now = datetime.now(UTC)
    appended: list[Appended] = []
    leaf_rows: list[tuple[Any, ...]] = []
    node_rows: list[tuple[Any, ...]] = []
    for offset, entry in enumerate(entries):
        index = size + offset
        leaf = make_leaf(kind, now, entry)
        digest = merkle.leaf_hash(leaf)
        for key, value in merkle.nodes_created_by_append(index, digest, nodes.__getitem__):
            nodes[key] = value
            node_rows.append((None, tenant_id, key[0], key[1], value))
        leaf_rows.append((None, tenant_id, index, kind, leaf.decode("utf-8"), digest, now))
        appended.append(Appended(index, leaf, digest))
    # One statement per table (a batch of 2,000 cases logs 2,000 leaves and ~4,000 nodes).
    await insert_rows(uow, "ledger_leaf", LEAF_COLUMNS, leaf_rows)
    await insert_rows(uow, "ledger_node", NODE_COLUMNS, node_rows)
    await uow.execute(
        "UPDATE ledger_state SET size = {}, updated_at = {} WHERE tenant_id = {}",
        size + len(entries),
        now,
        tenant_id,
    )
    return appended


def _check_size(size: int, current: int) -> None:
    if not 0 <= size <= current:
        raise LedgerError(f"the log has {current} leaves; there is no tree of size {size}")


async def root_at(uow: UnitOfWork, tenant_id: UUID, size: int) -> bytes:
    _check_size(size, await size_of(uow, tenant_id))
    return merkle.root(size, await _nodes(uow, tenant_id, merkle.plan_root(size)))


async def inclusion(uow: UnitOfWork, tenant_id: UUID, leaf_index: int, size: int) -> InclusionProof:
    _check_size(size, await size_of(uow, tenant_id))
    if not 0 <= leaf_index < size:
        raise LedgerError(f"leaf {leaf_index} is not in a tree of {size} leaves")
    keys = merkle.plan_inclusion(leaf_index, size) | merkle.plan_root(size) | {(0, leaf_index)}
    nodes = await _nodes(uow, tenant_id, keys)
    return InclusionProof(
        leaf_index=leaf_index,
        tree_size=size,
        leaf_hash=nodes[(0, leaf_index)],
        path=tuple(merkle.inclusion_proof(leaf_index, size, nodes)),
        root_hash=merkle.root(size, nodes),
    )


async def consistency(
    uow: UnitOfWork, tenant_id: UUID, first: int, second: int
) -> ConsistencyProof:
    _check_size(second, await size_of(uow, tenant_id))
    if not 0 < first <= second:
        raise LedgerError(f"no consistency proof from {first} to {second} (0 < first <= second)")
    keys = (
        merkle.plan_consistency(first, second) | merkle.plan_root(first) | merkle.plan_root(second)
    )
    nodes = await _nodes(uow, tenant_id, keys)
    return ConsistencyProof(
        first=first,
        second=second,
        first_root=merkle.root(first, nodes),
        second_root=merkle.root(second, nodes),
        path=tuple(merkle.consistency_proof(first, second, nodes)),
    )


@dataclass(frozen=True)
class LeafRecord:
    leaf_index: int
    kind: str
    leaf: str
    leaf_hash: bytes
    recorded_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "leaf_index": self.leaf_index,
            "kind": self.kind,
            "leaf": self.leaf,
            "leaf_hash": self.leaf_hash.hex(),
            "recorded_at": self.recorded_at.isoformat(),
        }


async def leaves(uow: UnitOfWork, tenant_id: UUID, start: int, end: int) -> list[LeafRecord]:
    """The leaves with ``start <= index < end``, in order."""
    rows = await uow.fetch(
        "SELECT leaf_index, kind, leaf, leaf_hash, recorded_at FROM ledger_leaf "
        "WHERE tenant_id = {} AND leaf_index >= {} AND leaf_index < {} ORDER BY leaf_index",
        tenant_id,
        start,
        end,
    )
    return [
        LeafRecord(
            int(r["leaf_index"]),
            str(r["kind"]),
            str(r["leaf"]),
            _bytes(r["leaf_hash"]),
            as_datetime(r["recorded_at"]),
        )
        for r in rows
    ]


# -- signed tree heads ------------------------------------------------------------------


def _head_of(row: Mapping[str, Any], log_id: str) -> SignedHead:
    return SignedHead(
        head=TreeHead(
            log_id=log_id,
            tree_size=int(row["tree_size"]),
            root_hash=_bytes(row["root_hash"]),
            timestamp=as_datetime(row["issued_at"]),
        ),
        kid=str(row["kid"]),
        signature=str(row["signature"]),
    )


def log_id_of(tenant_id: UUID) -> str:
    return f"urn:arbitral:ledger:{tenant_id}"


async def issue_head(runtime: Runtime, tenant_id: UUID) -> SignedHead:
    """Sign the log's current size and root with the tenant's ledger key, and keep it."""
    key = await runtime.keys.active_key(tenant_id, "ledger")
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        size = await size_of(uow, tenant_id)
        root = await root_at(uow, tenant_id, size)
        # Milliseconds: the signed payload carries the timestamp at that precision.
        now = datetime.fromtimestamp(int(datetime.now(UTC).timestamp() * 1000) / 1000, tz=UTC)
        head = TreeHead(log_id_of(tenant_id), size, root, now)
        signature = key.sign_jws(head.payload(), {"typ": "arbitral-tree-head+jws"})
        await uow.execute(
            "INSERT INTO ledger_head (id, tenant_id, tree_size, root_hash, issued_at, kid, "
            "signature) VALUES ({}, {}, {}, {}, {}, {}, {})",
            uuid4(),
            tenant_id,
            size,
            root,
            now,
            key.kid,
            signature,
        )
    return SignedHead(head, key.kid, signature)


async def latest_head(db: Database, tenant_id: UUID) -> SignedHead | None:
    async with db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        rows = await uow.fetch(
            "SELECT tree_size, root_hash, issued_at, kid, signature FROM ledger_head "
            "WHERE tenant_id = {} ORDER BY tree_size DESC, issued_at DESC LIMIT 1",
            tenant_id,
        )
    return _head_of(rows[0], log_id_of(tenant_id)) if rows else None


async def receipt(runtime: Runtime, tenant_id: UUID, leaf_index: int) -> dict[str, Any]:
    """A receipt for the leaf at ``leaf_index``: under the latest head, issuing one if needed."""
    head = await latest_head(runtime.db, tenant_id)
    if head is None or head.head.tree_size <= leaf_index:
        head = await issue_head(runtime, tenant_id)
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        proof = await inclusion(uow, tenant_id, leaf_index, head.head.tree_size)
        [record] = await leaves(uow, tenant_id, leaf_index, leaf_index + 1)
        cosignatures = await cosignatures_of(uow, tenant_id, head)
    return make_receipt(record.leaf.encode("utf-8"), leaf_index, head, proof, cosignatures)


async def cosignatures_of(
    uow: UnitOfWork, tenant_id: UUID, head: SignedHead
) -> list[dict[str, str]]:
    """The witnesses' cosignatures of ``head`` as receipts carry them: witness_kid, signature.

    All that are stored, of active witnesses or not: whoever checks a receipt
    counts those of the witnesses it accepts (:mod:`arbitral.ledger.witness`).
    """
    rows = await uow.fetch(
        "SELECT w.kid, c.signature FROM ledger_cosignature c "
        "JOIN ledger_head h ON h.tenant_id = c.tenant_id AND h.id = c.head_id "
        "JOIN ledger_witness w ON w.tenant_id = c.tenant_id AND w.id = c.witness_id "
        "WHERE c.tenant_id = {} AND h.tree_size = {} AND h.signature = {} ORDER BY w.kid",
        tenant_id,
        head.head.tree_size,
        head.signature,
    )
    return [{"witness_kid": str(r["kid"]), "signature": str(r["signature"])} for r in rows]


async def issue_due_heads(runtime: Runtime) -> list[tuple[UUID, SignedHead]]:
    """A new head for every active tenant whose log grew since its last head.

    What operators schedule (``arbitral ledger issue-heads`` from cron, or the
    ``ledger.issue_heads`` job), so that witnesses find fresh heads to cosign.
    Safe to run twice: a log that did not grow gets no new head.
    """
    from arbitral.tenancy.services import list_tenants

    issued: list[tuple[UUID, SignedHead]] = []
    for tenant in await list_tenants(runtime.db, active_only=True):
        async with runtime.db.transaction(tenant_id=tenant.id, readonly=True) as uow:
            size = await size_of(uow, tenant.id)
        last = await latest_head(runtime.db, tenant.id)
        if size == 0 or (last is not None and last.head.tree_size >= size):
            continue
        issued.append((tenant.id, await issue_head(runtime, tenant.id)))
        log.info("ledger.head_issued", tenant_id=str(tenant.id), tree_size=size)
    return issued


# -- verification -----------------------------------------------------------------------


@dataclass
class LedgerReport:
    size: int = 0
    leaves_checked: int = 0
    nodes_checked: int = 0
    heads_checked: int = 0
    objects_checked: int = 0
    problems: list[str] = field(default_factory=list)
    # The object keys that could not be read or no longer hash as logged.
    altered_objects: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "size": self.size,
            "leaves_checked": self.leaves_checked,
            "nodes_checked": self.nodes_checked,
            "heads_checked": self.heads_checked,
            "objects_checked": self.objects_checked,
            "problems": list(self.problems),
        }


async def verify_log(
    runtime: Runtime, tenant_id: UUID, *, store: ObjectStore | None = None
) -> LedgerReport:
    """Recompute the whole log from its leaves and check every head (and stored object).

    Every leaf's hash is recomputed from its text; every stored subtree hash is
    recomputed from the leaves; every signed head's root is recomputed and its
    signature checked; with ``store``, every object a leaf names (``object_key``
    and ``sha256``) is read back and re-hashed. Problems are named, never fixed.
    """
    import json

    from arbitral.keys.domain import import_public_jwk, verify_compact

    report = LedgerReport()
    problems = report.problems
    batch = 5000
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        size = await size_of(uow, tenant_id)
        report.size = size
        stored = await uow.fetch(
            "SELECT level, node_index, hash FROM ledger_node WHERE tenant_id = {}", tenant_id
        )
        stored_nodes = {(int(r["level"]), int(r["node_index"])): _bytes(r["hash"]) for r in stored}
        tree = merkle.MemoryTree()
        objects: list[tuple[int, str, str]] = []
        index = 0
        while index < size:
            records = await leaves(uow, tenant_id, index, min(size, index + batch))
            for record in records:
                if record.leaf_index != index:
                    problems.append(f"leaf {index} is missing (found {record.leaf_index} next)")
                    index = record.leaf_index
                computed = merkle.leaf_hash(record.leaf.encode("utf-8"))
                if computed != record.leaf_hash:
                    problems.append(
                        f"leaf {record.leaf_index}: its text does not hash to its stored leaf hash"
                    )
                # The tree is rebuilt from the stored leaf hashes, so that each altered row
                # is named once: a leaf's text here, a subtree hash below, a head's root.
                tree.append_hash(record.leaf_hash)
                report.leaves_checked += 1
                try:
                    entry = json.loads(record.leaf)
                except ValueError:
                    problems.append(f"leaf {record.leaf_index}: not JSON")
                    entry = {}
                if isinstance(entry, dict) and entry.get("object_key") and entry.get("sha256"):
                    objects.append(
                        (record.leaf_index, str(entry["object_key"]), str(entry["sha256"]))
                    )
                index += 1
            if not records:
                problems.append(f"leaves {index}..{size - 1} are missing")
                break
        for key, value in sorted(stored_nodes.items()):
            level, node_index = key
            if (node_index + 1) << level > tree.size:
                problems.append(f"node (level {level}, index {node_index}) lies beyond the tree")
                continue
            if tree.node(level, node_index) != value:
                problems.append(
                    f"node (level {level}, index {node_index}) does not match its leaves"
                )
            report.nodes_checked += 1
        expected = tree.size - bin(tree.size).count("1") + tree.size
        if report.nodes_checked < expected and not problems:
            problems.append(f"{expected - report.nodes_checked} subtree hashes are missing")
        heads = await uow.fetch(
            "SELECT tree_size, root_hash, issued_at, kid, signature FROM ledger_head "
            "WHERE tenant_id = {} ORDER BY tree_size, issued_at",
            tenant_id,
        )
    keys = {k.kid: k for k in await runtime.keys.keys(tenant_id, "ledger")}
    for row in heads:
        head = _head_of(row, log_id_of(tenant_id))
        report.heads_checked += 1
        label = f"head of size {head.head.tree_size} at {head.head.timestamp.isoformat()}"
        if head.head.tree_size > tree.size:
            problems.append(f"{label}: larger than the log")
            continue
        if tree.root(head.head.tree_size) != head.head.root_hash:
            problems.append(f"{label}: its root is not the root of the leaves")
        info = keys.get(head.kid)
        if info is None:
            problems.append(f"{label}: signed by an unknown key {head.kid}")
            continue
        try:
            payload = verify_compact(head.signature, import_public_jwk(info.public_jwk))
        except Exception:  # any failure is a bad signature
            problems.append(f"{label}: the signature does not verify")
            continue
        if payload != head.head.payload():
            problems.append(f"{label}: the signed payload differs from the stored head")
    if store is not None:
        for leaf_index, object_key, sha256 in objects:
            report.objects_checked += 1
            try:
                digest = hashlib.sha256()
                async for chunk in store.open(object_key):
                    digest.update(chunk)
            except Exception as exc:  # a missing or unreadable object
                problems.append(f"leaf {leaf_index}: object {object_key} cannot be read: {exc}")
                report.altered_objects.append(object_key)
                continue
            if digest.hexdigest() != sha256:
                problems.append(
                    f"leaf {leaf_index}: object {object_key} hashes to {digest.hexdigest()}, "
                    f"logged as {sha256}"
                )
                report.altered_objects.append(object_key)
    if problems:
        log.warning("ledger.verify_failed", tenant_id=str(tenant_id), problems=len(problems))
    return report
