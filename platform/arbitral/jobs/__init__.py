"""Background jobs: Dramatiq actors fed by a transactional outbox."""
