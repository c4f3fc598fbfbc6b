"""The per-tenant transparency log (RFC 9162): Merkle tree, signed tree heads, proofs, witnesses."""
