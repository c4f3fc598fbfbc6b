"""The transparency log's documents: leaves, signed tree heads and receipts (pure).

* A **leaf** is the RFC 8785 canonical JSON of what was logged: its ``kind``, the
  time it was logged and its metadata, including the SHA-256 of the object when
  there is one. The leaf hash is RFC 9162's ``SHA-256(0x00 || leaf)``.
* A **signed tree head** is a compact JWS (EdDSA, the tenant's ``ledger`` key)
  over the canonical JSON ``{"log_id", "tree_size", "root_hash", "timestamp"}``
  (root hash in base64, timestamp in milliseconds since the epoch).
* A **receipt** gives the submitter of an item everything needed to check it
  later with nothing but the tenant's public key: the leaf, its index, a signed
  head covering it, the inclusion proof and the witnesses' cosignatures.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import rfc8785

from arbitral.ledger import merkle
from arbitral.safejson import decode_json

RECEIPT_VERSION: Final = 1
HEAD_TYPE: Final = "arbitral-tree-head+jws"


class LedgerError(ValueError):
    """A request the log cannot answer (index or size out of range); the message says why."""


class ReceiptInvalid(ValueError):
    """A receipt (or a file checked against it) that does not hold; the message says what."""


_SAFE_INTEGER: Final = 2**53 - 1
_OUTSIDE_BMP: Final = re.compile("[\ud800-\udfff\U00010000-\U0010ffff]")


def _plain(value: Any) -> bool:
    """Whether ``value`` holds only what Python's json writes exactly as RFC 8785 does.

    Strings (and keys) within the Basic Multilingual Plane, where Python's key
    order (by code point) is RFC 8785's (by UTF-16 code unit); integers within
    I-JSON's safe range; booleans, null, arrays and objects of those. Floats
    (ECMAScript number formatting) are left to the reference implementation.
    """
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, str):
        return value.isascii() or not _OUTSIDE_BMP.search(value)
    if isinstance(value, int):
        return -_SAFE_INTEGER <= value <= _SAFE_INTEGER
    if isinstance(value, list):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(k) and _plain(v) for k, v in value.items())
    return False


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """RFC 8785 (JSON Canonicalization Scheme) bytes of ``document``.

    Plain documents (see :func:`_plain`; every leaf the platform writes) take
    Python's json, which writes them byte for byte as RFC 8785 does and ~10 times
    faster; anything else goes through the ``rfc8785`` reference implementation.
    A test checks the two agree on generated documents.
    """
    data = dict(document)
    if _plain(data):
        return json.dumps(
            data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")
    return rfc8785.dumps(data)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def to_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_millis(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def make_leaf(kind: str, recorded_at: datetime, entry: Mapping[str, Any]) -> bytes:
    """The leaf of ``entry``: its canonical JSON with ``kind`` and ``recorded_at`` added."""
    if "kind" in entry or "recorded_at" in entry:
        raise ValueError("kind and recorded_at are set by the log, not by the entry")
    return canonical_json(
        {**entry, "kind": kind, "recorded_at": recorded_at.astimezone(UTC).isoformat()}
    )


@dataclass(frozen=True)
class TreeHead:
    log_id: str
    tree_size: int
    root_hash: bytes
    timestamp: datetime

    def payload(self) -> bytes:
        return canonical_json(
            {
                "log_id": self.log_id,
                "tree_size": self.tree_size,
                "root_hash": b64(self.root_hash),
                "timestamp": to_millis(self.timestamp),
            }
        )

    @classmethod
    def from_payload(cls, payload: bytes) -> TreeHead:
        try:
            document = decode_json(payload)
            if not isinstance(document, dict):
                raise TypeError("not a JSON object")
            return cls(
                log_id=str(document["log_id"]),
                tree_size=int(document["tree_size"]),
                root_hash=unb64(document["root_hash"]),
                timestamp=from_millis(int(document["timestamp"])),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ReceiptInvalid(f"the tree head is malformed: {exc}") from None

    def as_json(self) -> dict[str, Any]:
        return {
            "log_id": self.log_id,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp": self.timestamp.isoformat(),
        }


@dataclass(frozen=True)
class SignedHead:
    head: TreeHead
    kid: str
    signature: str  # compact JWS over head.payload()

    def as_json(self) -> dict[str, Any]:
        return {**self.head.as_json(), "kid": self.kid, "signature": self.signature}


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    path: tuple[bytes, ...]
    root_hash: bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "leaf_hash": self.leaf_hash.hex(),
            "audit_path": [h.hex() for h in self.path],
            "root_hash": self.root_hash.hex(),
        }


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    first_root: bytes
    second_root: bytes
    path: tuple[bytes, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "first": self.first,
            "second": self.second,
            "first_root": self.first_root.hex(),
            "second_root": self.second_root.hex(),
            "consistency_path": [h.hex() for h in self.path],
        }


def make_receipt(
    leaf: bytes,
    leaf_index: int,
    head: SignedHead,
    proof: InclusionProof,
    cosignatures: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The receipt of the leaf at ``leaf_index`` under ``head`` (JSON-ready)."""
    return {
        "version": RECEIPT_VERSION,
        "log_id": head.head.log_id,
        "leaf": leaf.decode("utf-8"),
        "leaf_index": leaf_index,
        "tree_head": {"kid": head.kid, "signature": head.signature},
        "inclusion_proof": [b64(h) for h in proof.path],
        "cosignatures": [dict(c) for c in cosignatures],
    }


@dataclass(frozen=True)
class ReceiptCheck:
    """What a valid receipt established."""

    log_id: str
    leaf_index: int
    tree_size: int
    root_hash: bytes
    timestamp: datetime
    entry: Mapping[str, Any]


def verify_receipt(
    receipt: Mapping[str, Any],
    *,
    verify_signature: Any,
    content_sha256: str | None = None,
) -> ReceiptCheck:
    """Check ``receipt``; raise :class:`ReceiptInvalid` naming the first thing that fails.

    ``verify_signature(jws, kid) -> bytes`` checks the head's signature with the
    tenant's public key and returns the signed payload (it raises on a bad
    signature). ``content_sha256`` (hex), when given, must be the ``sha256`` the
    leaf records.
    """
    try:
        if receipt.get("version") != RECEIPT_VERSION:
            raise ReceiptInvalid(f"unknown receipt version {receipt.get('version')!r}")
        leaf_text = receipt["leaf"]
        leaf_index = receipt["leaf_index"]
        tree_head = receipt["tree_head"]
        path = [unb64(h) for h in receipt["inclusion_proof"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ReceiptInvalid(f"the receipt is malformed: {exc}") from None
    if not isinstance(leaf_text, str) or not isinstance(leaf_index, int):
        raise ReceiptInvalid("the receipt is malformed: leaf and leaf_index")
    try:
        payload = verify_signature(tree_head["signature"], tree_head.get("kid"))
    except ReceiptInvalid:
        raise
    except Exception as exc:  # any failure of the signature check
        raise ReceiptInvalid(f"the tree head's signature does not verify: {exc}") from None
    head = TreeHead.from_payload(payload)
    if head.log_id != receipt.get("log_id"):
        raise ReceiptInvalid("the tree head is of another log")
    leaf = leaf_text.encode("utf-8")
    try:
        entry = decode_json(leaf)
    except ValueError:
        raise ReceiptInvalid("the leaf is not JSON") from None
    if not isinstance(entry, dict) or canonical_json(entry) != leaf:
        raise ReceiptInvalid("the leaf is not canonical JSON (RFC 8785)")
    if not 0 <= leaf_index < head.tree_size:
        raise ReceiptInvalid(f"leaf {leaf_index} is not in a tree of {head.tree_size}")
    if not merkle.verify_inclusion(
        merkle.leaf_hash(leaf), leaf_index, head.tree_size, path, head.root_hash
    ):
        raise ReceiptInvalid("the inclusion proof does not lead to the signed root")
    if content_sha256 is not None and entry.get("sha256") != content_sha256:
        raise ReceiptInvalid(
            f"the file's SHA-256 {content_sha256} is not the one logged ({entry.get('sha256')})"
        )
    return ReceiptCheck(
        log_id=head.log_id,
        leaf_index=leaf_index,
        tree_size=head.tree_size,
        root_hash=head.root_hash,
        timestamp=head.timestamp,
        entry=entry,
    )
