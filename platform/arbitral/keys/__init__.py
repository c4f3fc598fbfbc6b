"""Per-tenant signing keys, encrypted at rest, rotatable, old public keys kept."""
