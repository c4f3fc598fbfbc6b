"""RFC 9162 §2.1 transcribed, as an independent reference for the ledger's Merkle tree.

Written from the RFC's definitions, not from ``arbitral.ledger.merkle``: MTH,
PATH and PROOF recurse over the list of leaves exactly as §2.1.1, §2.1.3.1 and
§2.1.4.1 define them, and the verifiers follow the numbered steps of §2.1.3.2
and §2.1.4.2 (``fn``, ``sn``, ``fr``, ``sr`` are the RFC's names). Slow on
purpose: clarity over speed, with a cache on MTH so that whole test sweeps stay
fast.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache


def HASH(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def largest_power_of_two_smaller_than(n: int) -> int:
    """The RFC's k: "the largest power of two smaller than n (i.e., k < n <= 2k)"."""
    k = 1
    while k * 2 < n:
        k *= 2
    assert k < n <= 2 * k
    return k


@cache
def MTH(D: tuple[bytes, ...]) -> bytes:
    """§2.1.1: the Merkle Tree Hash of the list of inputs D."""
    n = len(D)
    if n == 0:
        return HASH(b"")
    if n == 1:
        return HASH(b"\x00" + D[0])
    k = largest_power_of_two_smaller_than(n)
    return HASH(b"\x01" + MTH(D[0:k]) + MTH(D[k:n]))


def PATH(m: int, D: tuple[bytes, ...]) -> list[bytes]:
    """§2.1.3.1: the Merkle audit path for the (m+1)th input d(m), 0 <= m < n."""
    n = len(D)
    assert 0 <= m < n
    if n == 1:
        return []
    k = largest_power_of_two_smaller_than(n)
    if m < k:
        return [*PATH(m, D[0:k]), MTH(D[k:n])]
    return [*PATH(m - k, D[k:n]), MTH(D[0:k])]


def SUBPROOF(m: int, D: tuple[bytes, ...], b: bool) -> list[bytes]:
    """§2.1.4.1: the subproof; b says whether D[0:m] is the first tree's whole input."""
    n = len(D)
    assert 0 < m <= n
    if m == n:
        return [] if b else [MTH(D)]
    k = largest_power_of_two_smaller_than(n)
    if m <= k:
        return [*SUBPROOF(m, D[0:k], b), MTH(D[k:n])]
    return [*SUBPROOF(m - k, D[k:n], False), MTH(D[0:k])]


def PROOF(m: int, D: tuple[bytes, ...]) -> list[bytes]:
    """§2.1.4.1: the consistency proof from MTH(D[0:m]) to MTH(D), 0 < m < n."""
    assert 0 < m < len(D)
    return SUBPROOF(m, D, True)


def LSB(x: int) -> bool:
    return x & 1 == 1


def verify_inclusion(
    hash: bytes,
    leaf_index: int,
    tree_size: int,
    inclusion_path: Sequence[bytes],
    root_hash: bytes,
) -> bool:
    """§2.1.3.2, step by step."""
    # 1. If leaf_index is greater than or equal to tree_size, fail.
    if leaf_index >= tree_size:
        return False
    # 2. Set fn to leaf_index and sn to tree_size - 1.
    fn = leaf_index
    sn = tree_size - 1
    # 3. Set r to hash.
    r = hash
    # 4. For each value p in the inclusion_path array:
    for p in inclusion_path:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            return False
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if LSB(fn) or fn == sn:
            # i. Set r to HASH(0x01 || p || r).
            r = HASH(b"\x01" + p + r)
            # ii. If LSB(fn) is not set, then right-shift both fn and sn equally
            #     until either LSB(fn) is set or fn is 0.
            if not LSB(fn):
                while not (LSB(fn) or fn == 0):
                    fn >>= 1
                    sn >>= 1
        # Otherwise:
        else:
            # i. Set r to HASH(0x01 || r || p).
            r = HASH(b"\x01" + r + p)
        # c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 5. If sn is equal to 0 and r and the root_hash are equal, the log has
    #    proven the inclusion of hash. Otherwise, fail.
    return sn == 0 and r == root_hash


def verify_consistency(
    first: int,
    second: int,
    first_hash: bytes,
    second_hash: bytes,
    consistency_path: Sequence[bytes],
) -> bool:
    """§2.1.4.2, step by step (defined for 0 < first < second)."""
    assert 0 < first < second
    path = list(consistency_path)
    # 1. If consistency_path is an empty array, stop and fail the proof verification.
    if not path:
        return False
    # 2. If first is an exact power of 2, then prepend first_hash to the
    #    consistency_path array.
    if first & (first - 1) == 0:
        path.insert(0, first_hash)
    # 3. Set fn to first - 1 and sn to second - 1.
    fn = first - 1
    sn = second - 1
    # 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn)
    #    is not set.
    while LSB(fn):
        fn >>= 1
        sn >>= 1
    # 5. Set both fr and sr to the first value in the consistency_path array.
    fr = path[0]
    sr = path[0]
    # 6. For each subsequent value c in the consistency_path array:
    for c in path[1:]:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            return False
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if LSB(fn) or fn == sn:
            # i. Set fr to HASH(0x01 || c || fr).
            fr = HASH(b"\x01" + c + fr)
            # ii. Set sr to HASH(0x01 || c || sr).
            sr = HASH(b"\x01" + c + sr)
            # iii. If LSB(fn) is not set, then right-shift both fn and sn equally
            #      until either LSB(fn) is set or fn is 0.
            if not LSB(fn):
                while not (LSB(fn) or fn == 0):
                    fn >>= 1
                    sn >>= 1
        # Otherwise:
        else:
            # i. Set sr to HASH(0x01 || sr || c).
            sr = HASH(b"\x01" + sr + c)
        # c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 7. Verify that fr equals first_hash, sr equals second_hash and sn is 0.
    return fr == first_hash and sr == second_hash and sn == 0
