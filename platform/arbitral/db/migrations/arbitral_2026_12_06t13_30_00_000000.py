"""Batch acceptance and one invoice per batch (issue 8).

- ``tenant.batch_automatic_acceptance``: the commission's ``[batches]
  automatic_acceptance`` (batch cases that passed every automatic check are accepted
  without a secretary's review).
- ``batch_invoice``: the fees of a lender's batch, one row per batch, the sum of its
  cases' invoices, checked out once by the lender; it also records the acceptance run
  that fills it (who asked, when it finished).
- ``payment_invoice.batch_id``: a case invoice that is a line of its batch's invoice
  (the case keeps its own fee lines for refunds); ``payment_event.batch_invoice_id``:
  a notification about a batch invoice.
"""

from decimal import Decimal
from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import UUID, Boolean, Integer, Numeric, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod

from arbitral.db.tenant_sql import tenant_owned

ID = "2026-12-06T13:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Batch acceptance and one invoice per batch"

_NOW: dict[str, Any] = {"default": TimestamptzNow()}
_WHEN: dict[str, Any] = {"default": None, "null": True}
_MONEY: dict[str, Any] = {"digits": (16, 2), "default": Decimal("0.00")}

_BATCH_INVOICE: list[tuple[str, Any, dict[str, Any]]] = [
    ("id", UUID, {"default": UUID4(), "primary_key": True}),
    ("tenant_id", UUID, {"default": UUID4()}),
    ("batch_id", UUID, {"default": UUID4()}),
    ("client_id", Varchar, {"length": 64, **_WHEN}),
    ("currency", Varchar, {"length": 3, "default": "CNY"}),
    ("total", Numeric, _MONEY),
    ("cases", Integer, {"default": 0}),
    ("status", Varchar, {"length": 16, "default": "open"}),
    ("issued_at", Timestamptz, _NOW),
    ("due_at", Timestamptz, _WHEN),
    ("closed_at", Timestamptz, _WHEN),
    ("acceptance_mode", Varchar, {"length": 16, **_WHEN}),
    ("acceptance_by", Varchar, {"length": 200, **_WHEN}),
    ("acceptance_reason", Text, {"default": ""}),
    ("acceptance_started_at", Timestamptz, _WHEN),
    ("accepted_cases", Integer, {"default": 0}),
    ("provider", Varchar, {"length": 20, **_WHEN}),
    ("out_trade_no", Varchar, {"length": 64, "default": ""}),
    ("trade_no", Varchar, {"length": 64, **_WHEN}),
    ("checkout_started_at", Timestamptz, _WHEN),
    ("paid_at", Timestamptz, _WHEN),
    ("paid_amount", Numeric, {"digits": (16, 2), **_WHEN}),
    ("settled_at", Timestamptz, _WHEN),
]

_PARAMS: dict[str, Any] = {
    "null": False,
    "primary_key": False,
    "unique": False,
    "index": False,
    "index_method": IndexMethod.btree,
    "choices": None,
    "db_column_name": None,
    "secret": False,
}


async def forwards() -> Any:
    manager = MigrationManager(migration_id=ID, app_name="arbitral", description=DESCRIPTION)
    manager.add_table(
        class_name="BatchInvoice", tablename="batch_invoice", schema=None, columns=None
    )
    for name, column_class, extra in _BATCH_INVOICE:
        manager.add_column(
            table_class_name="BatchInvoice",
            tablename="batch_invoice",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params={**_PARAMS, **extra},
            schema=None,
        )
    for class_name, tablename, name, column_class, extra in (
        ("Tenant", "tenant", "batch_automatic_acceptance", Boolean, {"default": False}),
        ("PaymentInvoice", "payment_invoice", "batch_id", UUID, _WHEN),
        ("PaymentEvent", "payment_event", "batch_invoice_id", UUID, _WHEN),
    ):
        manager.add_column(
            table_class_name=class_name,
            tablename=tablename,
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params={**_PARAMS, **extra},
            schema=None,
        )
    return manager


SQL = [
    # One invoice per batch, whatever the runs of the acceptance job.
    "CREATE UNIQUE INDEX batch_invoice_batch ON batch_invoice (tenant_id, batch_id)",
    # Merchant order numbers are unique everywhere (as payment_invoice_order).
    "CREATE UNIQUE INDEX batch_invoice_order ON batch_invoice (out_trade_no)",
    "CREATE INDEX payment_invoice_batch ON payment_invoice (tenant_id, batch_id) "
    "WHERE batch_id IS NOT NULL",
    "CREATE INDEX payment_event_batch_invoice ON payment_event (tenant_id, batch_invoice_id) "
    "WHERE batch_invoice_id IS NOT NULL",
]

POSTGRES_SQL = [
    *tenant_owned("batch_invoice", references=[("batch_id", "claim_batch")]),
    "ALTER TABLE payment_invoice ADD CONSTRAINT payment_invoice_batch_id_fkey "
    "FOREIGN KEY (tenant_id, batch_id) REFERENCES claim_batch (tenant_id, id)",
    "ALTER TABLE payment_event ADD CONSTRAINT payment_event_batch_invoice_id_fkey "
    "FOREIGN KEY (tenant_id, batch_invoice_id) REFERENCES batch_invoice (tenant_id, id)",
]
