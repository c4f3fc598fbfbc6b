"""``arbitral_analyze_batch_tables()``: fresh planner statistics for the tables a batch
reads by list while it grows them, callable by the application role.

The application role owns no table, so it may not ``ANALYZE``. A lender's first batch
grows ``tenant_user`` and ``loan_contract`` by 2,000 rows a chunk, faster than
autovacuum analyses them, and a planner that still believes a table tiny probes the
primary key on ``tenant_id`` and filters every row of the commission, once per value:
the respondents' lookups took 0.7, 1.4 and 2.2 s in the 2nd to 4th chunks of a fresh
commission (quadratic until autovacuum came by). The batch job calls this function (as
the owner: ``SECURITY DEFINER``) after chunks 1, 2, 4, 8, …; it analyses four fixed
tables and nothing else, skipping one that autovacuum holds at the time (the batch
does not wait behind it: autovacuum is analysing it anyway).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T16:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "arbitral_analyze_batch_tables(): statistics for a growing batch"


async def forwards():
    return MigrationManager(migration_id=ID, app_name="arbitral", description=DESCRIPTION)


POSTGRES_SQL = [
    "CREATE OR REPLACE FUNCTION arbitral_analyze_batch_tables() RETURNS void "
    "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$ "
    "BEGIN ANALYZE (SKIP_LOCKED) public.tenant_user, public.membership, public.loan_contract, "
    "public.custody_object; END $$"
]
