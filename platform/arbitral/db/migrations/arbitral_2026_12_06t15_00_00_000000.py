"""Drop the tenant foreign key of the tables a lender's batch fills, where a composite key
already implies it.

Each of these tables has a NOT NULL composite foreign key ``(tenant_id, x_id) → x
(tenant_id, id)`` to a parent that has its own ``tenant_id → tenant`` key: a row can
only point into its own tenant, and the tenant exists while the parent does. The
second key proved nothing more, and PostgreSQL checked it once per row (about 5 µs):
a batch of 100,000 claims writes some 900,000 rows into these tables.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T15:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Drop tenant foreign keys implied by composite keys (the batch's tables)"


async def forwards():
    return MigrationManager(migration_id=ID, app_name="arbitral", description=DESCRIPTION)


POSTGRES_SQL = [
    f"ALTER TABLE {table} DROP CONSTRAINT {table}_tenant_fkey"
    for table in (
        "case_party",  # case_id → arb_case
        "case_event",  # case_id → arb_case
        "exhibit",  # case_id → arb_case
        "loan_contract",  # case_id → arb_case
        "batch_problem",  # batch_id → claim_batch
        "membership",  # user_id → tenant_user
    )
]
