"""The ledger's Merkle tree against RFC 9162, transcribed independently in ``rfc9162.py``."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from functools import cache

import pytest

from arbitral.ledger import merkle
from arbitral.ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MemoryTree,
    MissingNodeError,
    NodeKey,
    ProofError,
)
from tests.ledger import rfc9162

# --- Known answers ------------------------------------------------------------
#
# The RFC 6962 test vectors of Google's certificate-transparency and
# transparency-dev/merkle test data. Each is also checked against the reference.

VECTOR_LEAVES = (
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
)

VECTOR_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

VECTOR_INCLUSION = {  # (leaf index, tree size): path
    (0, 1): [],
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 5): [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}

VECTOR_CONSISTENCY = {  # (first, second): proof
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}


# --- A shared log of 1,000 leaves ----------------------------------------------

LOG_SIZE = 1000
LEAVES = tuple(f"entry {i}".encode() for i in range(LOG_SIZE))


@cache
def log() -> MemoryTree:
    tree = MemoryTree()
    for index, leaf in enumerate(LEAVES):
        assert tree.append(leaf) == index
    return tree


@cache
def vector_log() -> MemoryTree:
    tree = MemoryTree()
    for leaf in VECTOR_LEAVES:
        tree.append(leaf)
    return tree


def flipped(value: bytes, position: int = 0) -> bytes:
    """``value`` with one bit of one byte changed."""
    changed = bytearray(value)
    changed[position % len(changed)] ^= 0x01
    return bytes(changed)


def tampered(proof: Sequence[bytes]) -> list[list[bytes]]:
    """Proofs that must not verify: each element flipped, one dropped, one added,
    the order reversed."""
    proof = list(proof)
    out = [[*proof[:i], flipped(p, i), *proof[i + 1 :]] for i, p in enumerate(proof)]
    out.append([*proof, b"\x00" * HASH_SIZE])
    if proof:
        out.append(proof[:-1])
        out.append(proof[1:])
    if len(proof) > 1 and proof != proof[::-1]:
        out.append(proof[::-1])
    return out


def test_the_hash_functions_are_rfc_9162s() -> None:
    assert merkle.leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = b"L" * 32, b"R" * 32
    assert merkle.node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == rfc9162.MTH(())
    assert len(EMPTY_ROOT) == HASH_SIZE
    assert MemoryTree().root() == merkle.root(0, {}) == EMPTY_ROOT
    assert merkle.plan_root(0) == set()


def test_the_reference_reproduces_the_known_answers() -> None:
    """The vectors and the transcription of the RFC vouch for each other."""
    for size, expected in VECTOR_ROOTS.items():
        assert rfc9162.MTH(VECTOR_LEAVES[:size]).hex() == expected
    for (index, size), path in VECTOR_INCLUSION.items():
        assert [p.hex() for p in rfc9162.PATH(index, VECTOR_LEAVES[:size])] == path
    for (first, second), proof in VECTOR_CONSISTENCY.items():
        assert [p.hex() for p in rfc9162.PROOF(first, VECTOR_LEAVES[:second])] == proof


@pytest.mark.parametrize("size", sorted(VECTOR_ROOTS))
def test_known_roots(size: int) -> None:
    assert vector_log().root(size).hex() == VECTOR_ROOTS[size]


@pytest.mark.parametrize(("index", "size"), sorted(VECTOR_INCLUSION))
def test_known_inclusion_proofs(index: int, size: int) -> None:
    proof = vector_log().inclusion_proof(index, size)
    assert [p.hex() for p in proof] == VECTOR_INCLUSION[index, size]
    leaf = merkle.leaf_hash(VECTOR_LEAVES[index])
    assert merkle.verify_inclusion(leaf, index, size, proof, bytes.fromhex(VECTOR_ROOTS[size]))


@pytest.mark.parametrize(("first", "second"), sorted(VECTOR_CONSISTENCY))
def test_known_consistency_proofs(first: int, second: int) -> None:
    proof = vector_log().consistency_proof(first, second)
    assert [p.hex() for p in proof] == VECTOR_CONSISTENCY[first, second]
    first_root, second_root = (bytes.fromhex(VECTOR_ROOTS[s]) for s in (first, second))
    assert merkle.verify_consistency(first, second, first_root, second_root, proof)


# --- Every size and every leaf against the reference ----------------------------


@cache
def roots() -> tuple[bytes, ...]:
    """The log's root at every size, 0 to 1,000."""
    return tuple(log().root(size) for size in range(LOG_SIZE + 1))


def check_inclusion(index: int, size: int, *, tamper: bool = True) -> None:
    """The proof is the RFC's and both verifiers accept it; with ``tamper``, every
    altered proof, leaf, root, index and size is refused by both."""
    root = roots()[size]
    leaf = merkle.leaf_hash(LEAVES[index])
    proof = log().inclusion_proof(index, size)

    assert proof == rfc9162.PATH(index, LEAVES[:size])
    assert rfc9162.verify_inclusion(leaf, index, size, proof, root)
    assert merkle.verify_inclusion(leaf, index, size, proof, root)
    if not tamper:
        return

    for bad in tampered(proof):
        assert not merkle.verify_inclusion(leaf, index, size, bad, root)
        assert not rfc9162.verify_inclusion(leaf, index, size, bad, root)
    assert not merkle.verify_inclusion(flipped(leaf), index, size, proof, root)
    assert not merkle.verify_inclusion(leaf, index, size, proof, flipped(root))
    for other in {0, index - 1, index + 1, size - 1} - {index}:
        if 0 <= other < size:
            assert not merkle.verify_inclusion(leaf, other, size, proof, root)
            assert not rfc9162.verify_inclusion(leaf, other, size, proof, root)
    for other_size in {index + 1, size - 1, size + 1, 2 * size} - {size}:
        if index < other_size <= LOG_SIZE:
            # Against that size's own root, the proof of another size never holds.
            other_root = roots()[other_size]
            assert not merkle.verify_inclusion(leaf, index, other_size, proof, other_root)
            assert not rfc9162.verify_inclusion(leaf, index, other_size, proof, other_root)
            # Against this size's root it holds exactly when the path has the same
            # shape in both sizes: the RFC's algorithm reads only the shape, the
            # signed tree head binds the size. Both verifiers agree on it.
            assert merkle.verify_inclusion(
                leaf, index, other_size, proof, root
            ) == rfc9162.verify_inclusion(leaf, index, other_size, proof, root)


def test_every_root_up_to_1000_leaves_is_the_rfcs() -> None:
    for size, root in enumerate(roots()):
        assert root == rfc9162.MTH(LEAVES[:size])


def test_every_inclusion_proof_up_to_300_leaves_is_the_rfcs() -> None:
    """Every leaf of every size; tampering for every leaf up to 100 leaves, then
    for the leaves at the edges and the middle."""
    for size in range(1, 301):
        edges = {0, 1, size // 2, size - 2, size - 1}
        for index in range(size):
            check_inclusion(index, size, tamper=size <= 100 or index in edges)


def test_random_inclusion_proofs_up_to_1000_leaves() -> None:
    rng = random.Random(9162)
    for _ in range(300):
        size = rng.randint(301, LOG_SIZE)
        check_inclusion(rng.randrange(size), size)


def check_consistency(first: int, second: int) -> None:
    tree = log()
    first_root, second_root = roots()[first], roots()[second]
    proof = tree.consistency_proof(first, second)

    assert proof == rfc9162.PROOF(first, LEAVES[:second])
    assert rfc9162.verify_consistency(first, second, first_root, second_root, proof)
    assert merkle.verify_consistency(first, second, first_root, second_root, proof)

    for bad in tampered(proof):
        assert not merkle.verify_consistency(first, second, first_root, second_root, bad)
        assert not rfc9162.verify_consistency(first, second, first_root, second_root, bad)
    for pair in [
        (flipped(first_root), second_root),
        (first_root, flipped(second_root)),
        (second_root, first_root),
    ]:
        assert not merkle.verify_consistency(first, second, *pair, proof)
        assert not rfc9162.verify_consistency(first, second, *pair, proof)
    for other_first in {1, first - 1, first + 1} - {first}:
        if 0 < other_first < second:
            other_root = roots()[other_first]
            assert not merkle.verify_consistency(
                other_first, second, other_root, second_root, proof
            )
            assert merkle.verify_consistency(
                other_first, second, first_root, second_root, proof
            ) == rfc9162.verify_consistency(other_first, second, first_root, second_root, proof)
    for other_second in {first + 1, second - 1, second + 1} - {second}:
        if first < other_second <= LOG_SIZE:
            other_root = roots()[other_second]
            assert not merkle.verify_consistency(first, other_second, first_root, other_root, proof)
            assert merkle.verify_consistency(
                first, other_second, first_root, second_root, proof
            ) == rfc9162.verify_consistency(first, other_second, first_root, second_root, proof)


def test_every_consistency_proof_up_to_64_leaves_is_the_rfcs() -> None:
    for second in range(2, 65):
        for first in range(1, second):
            check_consistency(first, second)


def test_random_consistency_proofs_up_to_1000_leaves() -> None:
    rng = random.Random(6962)
    for _ in range(500):
        first, second = sorted(rng.sample(range(1, LOG_SIZE + 1), 2))
        check_consistency(first, second)
    for exponent in range(1, 10):  # from and to powers of two, where the RFC prepends
        check_consistency(1 << exponent, LOG_SIZE)
        check_consistency(rng.randint(1, (1 << exponent) - 1), 1 << exponent)


def test_equal_sizes_and_the_empty_tree_have_empty_consistency_proofs() -> None:
    tree = log()
    for size in (1, 2, 7, 64, 1000):
        root = tree.root(size)
        assert tree.consistency_proof(size, size) == []
        assert merkle.verify_consistency(size, size, root, root, [])
        assert not merkle.verify_consistency(size, size, root, flipped(root), [])
        assert not merkle.verify_consistency(size, size, root, root, [root])

        assert tree.consistency_proof(0, size) == []
        assert merkle.verify_consistency(0, size, EMPTY_ROOT, root, [])
        assert not merkle.verify_consistency(0, size, flipped(EMPTY_ROOT), root, [])
        assert not merkle.verify_consistency(0, size, EMPTY_ROOT, root, [root])
    assert merkle.consistency_proof(0, 0, {}) == []
    assert merkle.verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert merkle.plan_consistency(0, 5) == merkle.plan_consistency(5, 5) == set()


# --- The stored nodes -----------------------------------------------------------


def complete_subtrees(size: int) -> set[NodeKey]:
    """Every perfect, aligned subtree of a tree of ``size`` leaves, by brute force."""
    return {
        (level, index)
        for level in range(size.bit_length())
        for index in range(size)
        if (index + 1) << level <= size
    }


def test_appending_stores_exactly_the_complete_subtrees() -> None:
    store: dict[NodeKey, bytes] = {}
    asked: list[NodeKey] = []

    def get(key: NodeKey) -> bytes:
        asked.append(key)
        return store[key]

    for size_before in range(300):
        asked.clear()
        plan = merkle.plan_append(size_before)
        assert plan <= complete_subtrees(size_before)
        rows = merkle.nodes_created_by_append(
            size_before, merkle.leaf_hash(LEAVES[size_before]), get
        )
        assert set(asked) == plan
        created = {key for key, _ in rows}
        assert not created & store.keys(), "a node is written once"
        store.update(rows)
        assert store.keys() == complete_subtrees(size_before + 1)
        assert created == complete_subtrees(size_before + 1) - complete_subtrees(size_before)
    for (level, index), value in store.items():
        assert value == rfc9162.MTH(LEAVES[index << level : (index + 1) << level])


def test_plans_ask_only_for_nodes_the_tree_of_that_size_has_completed() -> None:
    for size in range(1, 130):
        complete = complete_subtrees(size)
        assert merkle.plan_root(size) <= complete
        for index in range(size):
            assert merkle.plan_inclusion(index, size) <= complete
        for first in range(size + 1):
            assert merkle.plan_consistency(first, size) <= complete


def is_complete(key: NodeKey, size: int) -> bool:
    level, index = key
    return level >= 0 and index >= 0 and (index + 1) << level <= size


def test_plans_stay_logarithmic_at_a_million_leaves() -> None:
    rng = random.Random(1)
    for _ in range(200):
        size = rng.randint(1, 1 << 40)
        depth = size.bit_length()
        index = rng.randrange(size)
        first = rng.randint(0, size)
        plans = {
            "root": merkle.plan_root(size),
            "inclusion": merkle.plan_inclusion(index, size),
            "consistency": merkle.plan_consistency(first, size),
        }
        for name, plan in plans.items():
            assert len(plan) <= 2 * depth, (name, size, len(plan))
            assert all(is_complete(key, size) for key in plan), name
    # Leaf 0 of a million: 19 siblings in the left half, and the right edge's
    # 6 nodes (one per 1 bit of 1,000,000 - 2**19) that fold into its 20th.
    assert len(merkle.plan_inclusion(0, 1_000_000)) == 19 + bin(1_000_000 - (1 << 19)).count("1")
    assert len(merkle.plan_root(1_000_000)) == bin(1_000_000).count("1")


def test_compute_needs_exactly_what_was_planned() -> None:
    tree = log()
    fetch = {key: tree._get(key) for key in complete_subtrees(LOG_SIZE)}
    cases: list[tuple[set[NodeKey], Callable[[dict[NodeKey, bytes]], object], str]] = [
        (merkle.plan_root(999), lambda nodes: merkle.root(999, nodes), "the root of tree size 999"),
        (
            merkle.plan_inclusion(3, 999),
            lambda nodes: merkle.inclusion_proof(3, 999, nodes),
            "the inclusion proof of leaf 3 in tree size 999",
        ),
        (
            merkle.plan_consistency(300, 999),
            lambda nodes: merkle.consistency_proof(300, 999, nodes),
            "the consistency proof from tree size 300 to 999",
        ),
    ]
    for plan, compute, what in cases:
        nodes = {key: fetch[key] for key in plan}
        assert compute(nodes) == compute(fetch)
        for missing in plan:
            level, index = missing
            with pytest.raises(MissingNodeError) as caught:
                compute({key: value for key, value in nodes.items() if key != missing})
            assert caught.value.key == missing
            assert str(caught.value) == (
                f"node (level {level}, index {index}) is needed for {what} but was not given"
            )


# --- Bad arguments --------------------------------------------------------------

MESSAGE_CASES: list[tuple[Callable[[], object], str]] = [
    (lambda: merkle.plan_root(-1), "tree size must be 0 or more, got -1"),
    (lambda: merkle.root(-3, {}), "tree size must be 0 or more, got -3"),
    (lambda: merkle.plan_append(-1), "tree size must be 0 or more, got -1"),
    (lambda: merkle.plan_inclusion(0, 0), "leaf index 0 is not in the empty tree (size 0)"),
    (
        lambda: merkle.plan_inclusion(5, 5),
        "leaf index 5 is not in a tree of size 5 (leaf indexes run from 0 to 4)",
    ),
    (
        lambda: merkle.inclusion_proof(9, 3, {}),
        "leaf index 9 is not in a tree of size 3 (leaf indexes run from 0 to 2)",
    ),
    (lambda: merkle.plan_inclusion(-1, 5), "leaf index must be 0 or more, got -1"),
    (lambda: merkle.inclusion_proof(0, -2, {}), "tree size must be 0 or more, got -2"),
    (
        lambda: merkle.plan_consistency(6, 5),
        "first tree size 6 is larger than second tree size 5:"
        " a consistency proof goes from a smaller tree to a larger one",
    ),
    (
        lambda: merkle.consistency_proof(2, 1, {}),
        "first tree size 2 is larger than second tree size 1:"
        " a consistency proof goes from a smaller tree to a larger one",
    ),
    (lambda: merkle.plan_consistency(-1, 5), "first tree size must be 0 or more, got -1"),
    (lambda: merkle.consistency_proof(0, -1, {}), "second tree size must be 0 or more, got -1"),
    (
        lambda: merkle.nodes_created_by_append(0, b"short", lambda key: b""),
        "a leaf hash has 32 bytes, got 5",
    ),
    (lambda: MemoryTree().root(1), "tree size 1 is larger than the log (0 leaves)"),
    (lambda: log().inclusion_proof(0, 1001), "tree size 1001 is larger than the log (1000 leaves)"),
    (
        lambda: log().consistency_proof(1, 1001),
        "tree size 1001 is larger than the log (1000 leaves)",
    ),
]


@pytest.mark.parametrize(("call", "message"), MESSAGE_CASES)
def test_bad_arguments_raise_a_precise_proof_error(
    call: Callable[[], object], message: str
) -> None:
    with pytest.raises(ProofError) as caught:
        call()
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_verifiers_answer_false_and_never_raise() -> None:
    tree = log()
    root, leaf = tree.root(10), merkle.leaf_hash(LEAVES[3])
    proof = tree.inclusion_proof(3, 10)
    assert merkle.verify_inclusion(leaf, 3, 10, proof, root)
    assert not merkle.verify_inclusion(leaf, 10, 10, proof, root)
    assert not merkle.verify_inclusion(leaf, -1, 10, proof, root)
    assert not merkle.verify_inclusion(leaf, 0, 0, [], EMPTY_ROOT)
    assert not merkle.verify_inclusion(leaf, 3, -10, proof, root)
    assert not merkle.verify_inclusion(leaf[:31], 3, 10, proof, root)
    assert not merkle.verify_inclusion(leaf, 3, 10, proof, root + b"\x00")
    assert not merkle.verify_inclusion(leaf, 3, 10, [proof[0][:31], *proof[1:]], root)
    assert not merkle.verify_inclusion(leaf, 3, 10, [*proof[:-1], "x" * 32], root)  # type: ignore[list-item]

    first, second = tree.root(3), tree.root(10)
    proof = tree.consistency_proof(3, 10)
    assert merkle.verify_consistency(3, 10, first, second, proof)
    assert not merkle.verify_consistency(10, 3, second, first, proof)
    assert not merkle.verify_consistency(-3, 10, first, second, proof)
    assert not merkle.verify_consistency(3, 10, first, second, [])
    assert not merkle.verify_consistency(3, 10, first[:31], second, proof)
    assert not merkle.verify_consistency(3, 10, first, second, [proof[0][:31], *proof[1:]])
    assert not merkle.verify_consistency(3, 10, first, second, [*proof[:-1], proof[-1] + b"!"])
    powers = tree.consistency_proof(4, 10)
    assert merkle.verify_consistency(4, 10, tree.root(4), second, powers)
    assert not merkle.verify_consistency(4, 10, tree.root(4), second, [])


def test_a_single_leaf_tree() -> None:
    tree = MemoryTree()
    assert tree.size == 0
    assert tree.append(b"only") == 0
    assert tree.size == 1
    leaf = merkle.leaf_hash(b"only")
    assert tree.root() == leaf == rfc9162.MTH((b"only",))
    assert tree.inclusion_proof(0) == []
    assert merkle.verify_inclusion(leaf, 0, 1, [], leaf)
    assert not merkle.verify_inclusion(leaf, 0, 1, [leaf], leaf)
    assert tree.consistency_proof(1) == []
    assert tree.append_hash(merkle.leaf_hash(b"second")) == 1
    assert tree.root() == rfc9162.MTH((b"only", b"second"))
    assert tree.consistency_proof(1) == [merkle.leaf_hash(b"second")]


def test_a_memory_tree_reads_its_stored_nodes() -> None:
    tree = log()
    assert tree.node(0, 7) == merkle.leaf_hash(LEAVES[7])
    assert tree.node(3, 124) == rfc9162.MTH(LEAVES[992:1000])
    assert tree.node(9, 0) == roots()[512]
    for level, index in [(0, 1000), (3, 125), (10, 0), (-1, 0), (0, -1)]:
        with pytest.raises(ProofError) as caught:
            tree.node(level, index)
        assert str(caught.value) == (
            f"node (level {level}, index {index}) is not a complete subtree"
            " of the log (1000 leaves)"
        )
