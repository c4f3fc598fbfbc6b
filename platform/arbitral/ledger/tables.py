"""Tables of the ledger context: each tenant's transparency log (RFC 9162).

``ledger_leaf`` and ``ledger_node`` are append-only: a leaf, once logged, and
the hash of every complete subtree, once computed, never change. The tree of
any size is recomputed from at most O(log n) stored nodes. ``ledger_state``
holds the size of each tenant's log; appends lock it, so they are serial per
tenant and the leaf indexes have no gaps.
"""

from __future__ import annotations

from piccolo.columns import JSON, UUID, BigInt, Boolean, Bytea, SmallInt, Text, Timestamptz, Varchar
from piccolo.table import Table


class LedgerLeaf(Table, tablename="ledger_leaf"):
    """One entry: the RFC 8785 canonical JSON of what was logged (its metadata and hash)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    leaf_index = BigInt()
    kind = Varchar(length=40)
    leaf = Text()
    leaf_hash = Bytea()
    recorded_at = Timestamptz()


class LedgerNode(Table, tablename="ledger_node"):
    """The hash of a complete subtree: leaves [index·2^level, (index+1)·2^level)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    level = SmallInt()
    node_index = BigInt()
    hash = Bytea()


class LedgerState(Table, tablename="ledger_state"):
    """The size of a tenant's log (locked by every append)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    size = BigInt()
    updated_at = Timestamptz()


class LedgerHead(Table, tablename="ledger_head"):
    """A signed tree head: size, root hash and time, signed with the tenant's ledger key."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    tree_size = BigInt()
    root_hash = Bytea()
    issued_at = Timestamptz()
    kid = Varchar(length=64)
    signature = Text()


class LedgerWitness(Table, tablename="ledger_witness"):
    """Someone who checks the log's consistency and cosigns its heads."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    name = Varchar(length=200)
    kind = Varchar(length=20)
    public_jwk = JSON()
    kid = Varchar(length=64)
    active = Boolean(default=True)
    created_at = Timestamptz()


class LedgerCosignature(Table, tablename="ledger_cosignature"):
    """A witness's signature on a head it found consistent with the last one it saw."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    head_id = UUID()
    witness_id = UUID()
    signature = Text()
    signed_at = Timestamptz()
