"""Sealing small secrets at rest (AES-256-GCM under the key-encryption key).

``seal`` binds the ciphertext to an associated context (tenant, record, purpose)
so a sealed value copied to another record does not open. The format is
``version (1 byte) || nonce (12 bytes) || ciphertext+tag``.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = 1
_NONCE = 12


class SealError(Exception):
    """A sealed value did not open: wrong key, other context, or tampering."""


def seal(kek: bytes, plaintext: bytes, context: bytes) -> bytes:
    if len(kek) != 32:
        raise ValueError("the key-encryption key must be 32 bytes")
    nonce = os.urandom(_NONCE)
    return bytes([_VERSION]) + nonce + AESGCM(kek).encrypt(nonce, plaintext, context)


def unseal(kek: bytes, sealed: bytes, context: bytes) -> bytes:
    if len(sealed) < 1 + _NONCE + 16 or sealed[0] != _VERSION:
        raise SealError("not a sealed value of a known version")
    try:
        return AESGCM(kek).decrypt(sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :], context)
    except InvalidTag:
        raise SealError("the sealed value does not open with this key and context") from None
