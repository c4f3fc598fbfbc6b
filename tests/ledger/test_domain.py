"""The log's documents: canonical JSON exactly as RFC 8785's reference writes it."""

from __future__ import annotations

from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from arbitral.ledger.domain import canonical_json

scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.text()
)
documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=400)
@given(st.dictionaries(st.text(), documents, max_size=6))
def test_canonical_json_is_rfc_8785(document: dict[str, Any]) -> None:
    try:
        expected = rfc8785.dumps(document)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        return  # lone surrogates: not representable, refused by both paths
    assert canonical_json(document) == expected


def test_canonical_json_of_the_awkward_cases() -> None:
    for document in (
        {"b": 1, "a": "中文", "\u20ac": "€", "\U0001f600": "emoji key", "\ufb33": "after"},
        {"control": '\x00\x1f\x7f\n\t"\\/', "float": 1.5e-7, "int": 2**53 - 1},
        {"nested": [{"z": None, "y": True}, [], {}]},
    ):
        assert canonical_json(document) == rfc8785.dumps(document)


def test_a_receipt_with_a_deeply_nested_leaf_is_invalid_not_a_crash() -> None:
    import pytest

    from arbitral.ledger.domain import ReceiptInvalid, verify_receipt

    receipt = {
        "version": 1,
        "log_id": "urn:x",
        "leaf": "[" * 100_000 + "]" * 100_000,
        "leaf_index": 0,
        "tree_head": {"kid": "k", "signature": "s"},
        "inclusion_proof": [],
    }
    head = b'{"log_id":"urn:x","root_hash":"AA==","timestamp":0,"tree_size":1}'
    with pytest.raises(ReceiptInvalid, match="not JSON"):
        verify_receipt(receipt, verify_signature=lambda jws, kid: head)
    with pytest.raises(ReceiptInvalid, match="tree head is malformed"):
        verify_receipt(receipt, verify_signature=lambda jws, kid: b"[" * 100_000)
