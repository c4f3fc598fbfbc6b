"""The Merkle tree of a transparency log (RFC 9162 §2.1, as RFC 6962 §2.1), stored as a tree.

Pure: hashlib only, no I/O. Hashes are SHA-256 with the RFC's domain separation::

    leaf hash  = SHA-256(0x00 || leaf bytes)
    node hash  = SHA-256(0x01 || left || right)
    empty tree = SHA-256("")

A tree of ``n`` leaves whose size is not a power of two is split as the RFC
splits it: the left part holds the largest power of two ``k < n`` leaves.

**What is stored.** The log keeps every *complete* subtree, not only the leaves:
``node(level, index)`` is the hash of the ``2**level`` leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 holds the leaf hashes. A
node never changes once it exists, so rows are insert-only. Appending leaf
number ``n`` inserts ``node(0, n)`` and, for ``L = 1, 2, ...`` while
``(n + 1) % 2**L == 0``, ``node(L, n >> L)`` (:func:`nodes_created_by_append`):
one row per leaf plus one row per completed parent, 2 rows per leaf on average.

Every subtree that the RFC's recursion reaches, for any tree size ``N <= n``,
is either a stored node or a subtree on the right edge of the tree of size
``N``, whose hash folds the stored nodes of the binary decomposition of its
size (at most ``log2 N`` of them). So a root, an inclusion proof or a
consistency proof needs ``O(log N)`` stored nodes and ``O(log N)`` hashing,
never work per leaf.

**Two phases.** Fetching nodes is a database query, so each operation comes as
``plan_*`` (the set of ``(level, index)`` keys to fetch, in one query) and a
compute function that takes a mapping of those keys to hashes. Both phases
derive from the same recipe, so a compute never asks for a key its plan did
not name; a missing key raises :class:`MissingNodeError`.

**Sizes 0 and equal sizes.** The RFC defines a consistency proof for
``0 < first < second``. Here ``first == second`` and ``first == 0`` give the
empty proof, as transparency-dev/merkle does: a tree is consistent with itself
(the verifier then requires equal roots) and every tree extends the empty one
(the verifier then requires ``first_root == EMPTY_ROOT`` and cannot say
anything about ``second_root``). ``root(0)`` is :data:`EMPTY_ROOT`; a tree of
size 0 has no leaves, so no inclusion proof.

Arguments that cannot describe a tree (negative numbers, a leaf past the end,
``first > second``) raise :class:`ProofError`. The verifiers never raise: a
proof comes from outside, and anything that does not check out is ``False``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Final

HASH_SIZE: Final = 32
"""Bytes in a SHA-256 hash: every leaf hash, node hash, root and proof element."""

NodeKey = tuple[int, int]
"""``(level, index)``: the hash of leaves ``[index << level, (index + 1) << level)``
(level 0 holds the leaf hashes)."""

_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"


class ProofError(ValueError):
    """Arguments that describe no tree, leaf or pair of trees (a caller's mistake)."""


class MissingNodeError(LookupError):
    """A compute function was given a mapping without a node it needs."""

    def __init__(self, key: NodeKey, what: str) -> None:
        self.key = key
        super().__init__(
            f"node (level {key[0]}, index {key[1]}) is needed for {what} but was not given"
        )


def leaf_hash(leaf: bytes) -> bytes:
    """``SHA-256(0x00 || leaf)``: the hash of one entry of the log."""
    return hashlib.sha256(_LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
"""MTH({}), the root of the tree with no leaves."""


# --- Arguments --------------------------------------------------------------


def _check_size(size: int, name: str = "tree size") -> None:
    if size < 0:
        raise ProofError(f"{name} must be 0 or more, got {size}")


def _check_leaf(leaf_index: int, size: int) -> None:
    _check_size(size)
    if leaf_index < 0:
        raise ProofError(f"leaf index must be 0 or more, got {leaf_index}")
    if leaf_index >= size:
        if size == 0:
            raise ProofError(f"leaf index {leaf_index} is not in the empty tree (size 0)")
        raise ProofError(
            f"leaf index {leaf_index} is not in a tree of size {size}"
            f" (leaf indexes run from 0 to {size - 1})"
        )


def _check_pair(first: int, second: int) -> None:
    _check_size(first, "first tree size")
    _check_size(second, "second tree size")
    if first > second:
        raise ProofError(
            f"first tree size {first} is larger than second tree size {second}:"
            " a consistency proof goes from a smaller tree to a larger one"
        )


# --- Recipes: which stored nodes make up each hash ---------------------------

_Fold = tuple[NodeKey, ...]
"""The stored nodes, left to right, whose right fold is one subtree hash."""


def _range(start: int, end: int) -> _Fold:
    """The stored nodes that make up the subtree of leaves ``[start, end)``.

    ``start`` is a multiple of the largest power of two in ``end - start``, as
    every subtree of the RFC's recursion is: the sizes of the nodes are the
    bits of ``end - start``, largest first.
    """
    keys: list[NodeKey] = []
    remaining = end - start
    while remaining:
        level = remaining.bit_length() - 1
        keys.append((level, start >> level))
        start += 1 << level
        remaining -= 1 << level
    return tuple(keys)


def _split(size: int) -> int:
    """The RFC's k: the largest power of two smaller than ``size`` (``size >= 2``)."""
    return 1 << ((size - 1).bit_length() - 1)


def _inclusion_recipe(leaf_index: int, size: int) -> list[_Fold]:
    """PATH(m, D[n]) (RFC 9162 §2.1.3.1), walked from the root down, listed bottom up."""
    top_down: list[_Fold] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if leaf_index < start + k:  # PATH(m, D[0:k]) : MTH(D[k:n])
            top_down.append(_range(start + k, end))
            end = start + k
        else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            top_down.append(_range(start, start + k))
            start += k
    top_down.reverse()
    return top_down


def _consistency_recipe(first: int, second: int) -> list[_Fold]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (RFC 9162 §2.1.4.1), walked top down."""
    if first in (0, second):
        return []
    top_down: list[_Fold] = []
    start, end, whole = 0, second, True  # ``whole`` is the RFC's b
    while first != end:  # SUBPROOF(m, D[start:end], b) with m = first - start
        k = _split(end - start)
        if first <= start + k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            top_down.append(_range(start + k, end))
            end = start + k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            top_down.append(_range(start, start + k))
            start += k
            whole = False
    if not whole:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        top_down.append(_range(start, end))
    top_down.reverse()
    return top_down


def _keys(folds: Sequence[_Fold]) -> set[NodeKey]:
    return {key for fold in folds for key in fold}


def _fold(keys: _Fold, nodes: Mapping[NodeKey, bytes], what: str) -> bytes:
    try:
        result = nodes[keys[-1]]
        for key in reversed(keys[:-1]):
            result = node_hash(nodes[key], result)
    except KeyError as exc:
        raise MissingNodeError(exc.args[0], what) from None
    return result


# --- Appending ---------------------------------------------------------------


def plan_append(size_before: int) -> set[NodeKey]:
    """The stored nodes that appending leaf number ``size_before`` combines with.

    The left siblings of the new leaf's ancestors that become complete: one per
    trailing 1 bit of ``size_before``.
    """
    _check_size(size_before)
    keys: set[NodeKey] = set()
    level, index = 0, size_before
    while index & 1:
        keys.add((level, index - 1))
        level, index = level + 1, index >> 1
    return keys


def nodes_created_by_append(
    size_before: int, leaf_hash: bytes, get: Callable[[NodeKey], bytes]
) -> list[tuple[NodeKey, bytes]]:
    """The node rows to insert when leaf number ``size_before`` is appended.

    ``get`` returns a stored node; it is asked only for the keys of
    :func:`plan_append`. The rows come bottom up: the leaf, then each completed
    parent.
    """
    _check_size(size_before)
    if len(leaf_hash) != HASH_SIZE:
        raise ProofError(f"a leaf hash has {HASH_SIZE} bytes, got {len(leaf_hash)}")
    rows: list[tuple[NodeKey, bytes]] = [((0, size_before), leaf_hash)]
    level, index, current = 0, size_before, leaf_hash
    while index & 1:
        current = node_hash(get((level, index - 1)), current)
        level, index = level + 1, index >> 1
        rows.append(((level, index), current))
    return rows


# --- Roots and proofs --------------------------------------------------------


def plan_root(size: int) -> set[NodeKey]:
    """The stored nodes that make up the root of the tree of ``size`` leaves."""
    _check_size(size)
    return set(_range(0, size))


def root(size: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """MTH(D[size]): the root of the tree of the first ``size`` leaves."""
    _check_size(size)
    if size == 0:
        return EMPTY_ROOT
    return _fold(_range(0, size), nodes, f"the root of tree size {size}")


def plan_inclusion(leaf_index: int, size: int) -> set[NodeKey]:
    """The stored nodes that make up the inclusion proof of a leaf in a tree size."""
    _check_leaf(leaf_index, size)
    return _keys(_inclusion_recipe(leaf_index, size))


def inclusion_proof(leaf_index: int, size: int, nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    """PATH(leaf_index, D[size]) of RFC 9162 §2.1.3.1, from the leaf's sibling up."""
    _check_leaf(leaf_index, size)
    what = f"the inclusion proof of leaf {leaf_index} in tree size {size}"
    return [_fold(fold, nodes, what) for fold in _inclusion_recipe(leaf_index, size)]


def plan_consistency(first: int, second: int) -> set[NodeKey]:
    """The stored nodes that make up the consistency proof between two tree sizes."""
    _check_pair(first, second)
    return _keys(_consistency_recipe(first, second))


def consistency_proof(first: int, second: int, nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    """PROOF(first, D[second]) of RFC 9162 §2.1.4.1 (empty when first is 0 or second)."""
    _check_pair(first, second)
    what = f"the consistency proof from tree size {first} to {second}"
    return [_fold(fold, nodes, what) for fold in _consistency_recipe(first, second)]


# --- Verification ------------------------------------------------------------
#
# The verifiers follow the shape of the proof rather than RFC 9162's loop over
# fn and sn (tests/ledger/rfc9162.py transcribes that loop and the tests hold
# the two to the same answers). For leaf ``index`` in a tree of ``size``
# leaves, the proof first climbs the ``inner`` levels below the node where the
# paths to ``index`` and to the last leaf part (siblings on either side), then
# the ``border``: one left sibling per 1 bit of ``index`` above that node.


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _climb(seed: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root that ``proof`` leads to from node ``index`` of a ``size``-wide level."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    if len(proof) != inner + border or not all(_is_hash(p) for p in proof):
        return None
    result = seed
    for level in range(inner):
        if (index >> level) & 1:
            result = node_hash(proof[level], result)
        else:
            result = node_hash(result, proof[level])
    for sibling in proof[inner:]:
        result = node_hash(sibling, result)
    return result


def verify_inclusion(
    leaf_hash: bytes, leaf_index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows the leaf hash at ``leaf_index`` in the tree ``root`` of ``size``.

    RFC 9162 §2.1.3.2. ``False`` for anything that does not check out, bad
    numbers included.
    """
    if not 0 <= leaf_index < size or not (_is_hash(leaf_hash) and _is_hash(root)):
        return False
    return _climb(leaf_hash, leaf_index, size, proof) == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree ``second_root`` of ``second`` leaves extends
    the tree ``first_root`` of ``first`` leaves.

    RFC 9162 §2.1.4.2 for ``0 < first < second``. ``first == second`` holds
    with an empty proof and equal roots; ``first == 0`` holds with an empty
    proof and ``first_root == EMPTY_ROOT`` (whatever ``second_root`` is).
    """
    if not 0 <= first <= second or not (_is_hash(first_root) and _is_hash(second_root)):
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    # The first tree's last stored node on its right edge, (level, index), is
    # where the two trees part; the proof is its inclusion proof at that level
    # in the second tree, preceded by its hash unless it is the first root.
    level = (first & -first).bit_length() - 1
    index = (first - 1) >> level
    width = ((second - 1) >> level) + 1
    if index == 0:  # first is a power of two: the node is the first root
        seed, path = first_root, proof
    elif proof:
        seed, path = proof[0], proof[1:]
    else:
        return False
    if not _is_hash(seed):
        return False
    second_computed = _climb(seed, index, width, path)
    if second_computed is None or second_computed != second_root:
        return False
    # The first root uses only the left siblings: the right ones are newer leaves.
    first_computed = seed
    inner = (index ^ (width - 1)).bit_length()
    for level_above, sibling in enumerate(path):
        if level_above >= inner or (index >> level_above) & 1:
            first_computed = node_hash(sibling, first_computed)
    return first_computed == first_root


# --- In memory ---------------------------------------------------------------


class MemoryTree:
    """A log held in memory, stored as the database stores it: every complete node.

    Each operation plans, fetches the planned nodes (the database's one query)
    and computes, so it exercises the two phases as the database store does.
    Used by tests and benchmarks.
    """

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = []

    @property
    def size(self) -> int:
        """The number of leaves appended."""
        return len(self._levels[0]) if self._levels else 0

    def node(self, level: int, index: int) -> bytes:
        """The stored hash of leaves ``[index << level, (index + 1) << level)``."""
        if level < 0 or index < 0 or (index + 1) << level > self.size:
            raise ProofError(
                f"node (level {level}, index {index}) is not a complete subtree"
                f" of the log ({self.size} leaves)"
            )
        return self._levels[level][index]

    def _get(self, key: NodeKey) -> bytes:
        level, index = key
        return self._levels[level][index]

    def _fetch(self, keys: set[NodeKey]) -> dict[NodeKey, bytes]:
        return {key: self._get(key) for key in keys}

    def _check_within(self, size: int) -> None:
        if size > self.size:
            raise ProofError(f"tree size {size} is larger than the log ({self.size} leaves)")

    def append(self, leaf: bytes) -> int:
        """Append one entry; return its leaf index."""
        return self.append_hash(leaf_hash(leaf))

    def append_hash(self, hashed: bytes) -> int:
        """Append an entry by its leaf hash; return its leaf index."""
        index = self.size
        for (level, _), value in nodes_created_by_append(index, hashed, self._get):
            if level == len(self._levels):
                self._levels.append([])
            self._levels[level].append(value)
        return index

    def root(self, size: int | None = None) -> bytes:
        """The root of the tree of the first ``size`` leaves (all of them by default)."""
        size = self.size if size is None else size
        self._check_within(size)
        return root(size, self._fetch(plan_root(size)))

    def inclusion_proof(self, leaf_index: int, size: int | None = None) -> list[bytes]:
        """The inclusion proof of a leaf in the tree of ``size`` leaves (all by default)."""
        size = self.size if size is None else size
        self._check_within(size)
        return inclusion_proof(leaf_index, size, self._fetch(plan_inclusion(leaf_index, size)))

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """The consistency proof from tree size ``first`` to ``second`` (all by default)."""
        second = self.size if second is None else second
        self._check_within(second)
        return consistency_proof(first, second, self._fetch(plan_consistency(first, second)))


# -- small trees held in memory ----------------------------------------------------------------


def tree_root(hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes held in memory (RFC 9162 §2.1.1; SHA-256 of nothing when empty).

    Levels pair neighbours and lift an odd last node unchanged: the same tree as the
    RFC's split at the largest power of two below the size.
    """
    if not hashes:
        return hashlib.sha256(b"").digest()
    level = list(hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def tree_path(hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) over leaf hashes held in memory, from the leaf's sibling up
    (checked by :func:`verify_inclusion` against :func:`tree_root`)."""
    _check_leaf(index, len(hashes))
    path: list[bytes] = []
    level = list(hashes)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
        index //= 2
    return path
