"""SQL that Piccolo cannot express: tenant keys, row-level security, integrity.

Migrations of tenant-owned tables use :func:`tenant_owned` in their
``POSTGRES_SQL``. Every tenant-owned table gets

* ``(tenant_id, id)`` as its primary key, so ``tenant_id`` leads every key and
  the tables can be moved per tenant or distributed by tenant (Citus);
* composite foreign keys ``(tenant_id, x_id) → x (tenant_id, id)``, so a row
  can only ever point at rows of its own tenant (and ``tenant_id → tenant``;
  the tables a lender's batch fills drop that one where a NOT NULL composite
  key implies it: migration 2026-12-06T15:00);
* row-level security, enabled and forced (the owner too), with one policy
  that reads the tenant of the transaction.

Piccolo still sees ``id`` as the primary key; ``ON CONFLICT`` on these tables
must name ``(tenant_id, id)`` on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def tenant_owned(table: str, *, references: Sequence[tuple[str, str]] = ()) -> list[str]:
    """PostgreSQL statements that make ``table`` tenant-owned (see the module docstring)."""
    statements = [
        f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey",
        f"ALTER TABLE {table} ADD PRIMARY KEY (tenant_id, id)",
        f"ALTER TABLE {table} ADD CONSTRAINT {table}_tenant_fkey "
        "FOREIGN KEY (tenant_id) REFERENCES tenant (id)",
    ]
    for column, target in references:
        statements.append(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_fkey "
            f"FOREIGN KEY (tenant_id, {column}) REFERENCES {target} (tenant_id, id)"
        )
    statements += [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {table}_tenant_isolation ON {table} "
        f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})",
    ]
    return statements


RELAY_SETTING = "app.outbox_relay"


def outbox_policy() -> list[str]:
    """Row-level security for the outbox, a queue that crosses tenants by design.

    A tenant's transaction sees and writes only its own jobs (and platform jobs,
    which have no tenant); only a transaction that declares itself the relay
    (``app.outbox_relay = on``, set by :class:`arbitral.jobs.outbox.Relay`)
    sees every row, to publish them.
    """
    relay = f"current_setting('{RELAY_SETTING}', true) = 'on'"
    mine = f"tenant_id IS NOT DISTINCT FROM {CURRENT_TENANT}"
    return [
        "ALTER TABLE outbox_message ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE outbox_message FORCE ROW LEVEL SECURITY",
        "CREATE POLICY outbox_message_tenant_isolation ON outbox_message "
        f"USING ({relay} OR {mine}) WITH CHECK ({relay} OR {mine})",
    ]


def append_only_postgres(table: str) -> list[str]:
    """Refuse UPDATE and DELETE on ``table`` for every role, the owner included."""
    return [
        "CREATE OR REPLACE FUNCTION arbitral_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION '% is append-only', TG_TABLE_NAME "
        "USING ERRCODE = 'insufficient_privilege'; "
        "END $$",
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION arbitral_append_only()",
    ]


def append_only_sqlite(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
    ]
