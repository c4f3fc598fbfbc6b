"""``arbitral_analyze_batch_tables()``: fresh planner statistics for the tables a batch
reads by list while it grows them, callable by the application role.

The application role owns no table, so it may not ``ANALYZE``. A lender's first batch
grows ``tenant_user``, ``membership`` and ``loan_contract`` by 2,000 rows a chunk,
faster than autovacuum analyses them, and a planner that still believes a table tiny
probes the primary key on ``tenant_id`` and filters every row of the commission, once
per value: the respondents' lookups took 0.7, 1.4 and 2.2 s in the 2nd to 4th chunks of
a fresh commission (quadratic until autovacuum came by). The batch job calls this
function (as the owner: ``SECURITY DEFINER``) after chunks 1, 2, 4, 8, …. It analyses
those three tables only where they changed enough since their last analysis (by
default 1,000 rows and a fifth of the table: a commission with millions of users is
not analysed for a batch of thousands), skipping one autovacuum holds at the time.
It returns how many it analysed.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T16:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "arbitral_analyze_batch_tables(): statistics for a growing batch"


async def forwards():
    return MigrationManager(migration_id=ID, app_name="arbitral", description=DESCRIPTION)


POSTGRES_SQL = [
    "CREATE OR REPLACE FUNCTION arbitral_analyze_batch_tables("
    "min_changes bigint DEFAULT 1000, fraction float8 DEFAULT 0.2) RETURNS integer "
    "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$ "
    "DECLARE t regclass; n integer := 0; "
    "BEGIN "
    "FOR t IN SELECT s.relid FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
    "WHERE s.schemaname = 'public' "
    "AND s.relname IN ('tenant_user', 'membership', 'loan_contract') "
    "AND (c.reltuples < 0 OR s.n_mod_since_analyze >= min_changes + fraction * c.reltuples) "
    "LOOP EXECUTE format('ANALYZE (SKIP_LOCKED) %s', t); n := n + 1; END LOOP; "
    "RETURN n; END $$"
]
