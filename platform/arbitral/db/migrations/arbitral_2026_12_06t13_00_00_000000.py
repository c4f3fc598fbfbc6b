"""Lender batches: the batch, its refused rows, and the registry of claimed loan contracts (issue 8)."""

from decimal import Decimal
from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import (
    JSON,
    UUID,
    BigInt,
    Boolean,
    Integer,
    Numeric,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod

from arbitral.db.tenant_sql import tenant_owned

ID = "2026-12-06T13:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Lender batches, their refused rows, and the registry of claimed loan contracts"

_NOW: dict[str, Any] = {"default": TimestamptzNow()}
_WHEN: dict[str, Any] = {"default": None, "null": True}
_TABLES: dict[str, tuple[str, list[tuple[str, Any, dict[str, Any]]]]] = {
    "claim_batch": (
        "ClaimBatch",
        [
            ("id", UUID, {"default": UUID4(), "primary_key": True}),
            ("tenant_id", UUID, {"default": UUID4()}),
            ("client_id", Varchar, {"length": 64, "default": None, "null": True}),
            ("filed_by", Varchar, {"length": 200, "default": ""}),
            ("filer_kind", Varchar, {"length": 20, "default": ""}),
            ("idempotency_key", Varchar, {"length": 200, "default": ""}),
            ("request_sha256", Varchar, {"length": 64, "default": ""}),
            ("case_type", Varchar, {"length": 40, "default": ""}),
            ("rule_set", Varchar, {"length": 100, "default": ""}),
            ("rule_set_version", Varchar, {"length": 20, "default": ""}),
            ("claimant", JSON, {"default": "{}"}),
            ("declared_rows", Integer, {"default": 0}),
            ("state", Varchar, {"length": 16, "default": "created"}),
            ("file_object_id", UUID, _WHEN),
            ("file_sha256", Varchar, {"length": 64, **_WHEN}),
            ("file_size", BigInt, _WHEN),
            ("file_format", Varchar, {"length": 8, **_WHEN}),
            ("file_encoding", Varchar, {"length": 16, **_WHEN}),
            ("rows_read", Integer, {"default": 0}),
            ("cases_created", Integer, {"default": 0}),
            ("rows_rejected", Integer, {"default": 0}),
            ("rows_duplicate", Integer, {"default": 0}),
            ("problems", JSON, {"default": "[]"}),
            ("created_at", Timestamptz, _NOW),
            ("uploaded_at", Timestamptz, _WHEN),
            ("started_at", Timestamptz, _WHEN),
            ("finished_at", Timestamptz, _WHEN),
            ("updated_at", Timestamptz, _NOW),
            ("lease_until", Timestamptz, _WHEN),
        ],
    ),
    "batch_problem": (
        "BatchProblem",
        [
            ("id", UUID, {"default": UUID4(), "primary_key": True}),
            ("tenant_id", UUID, {"default": UUID4()}),
            ("batch_id", UUID, {"default": UUID4()}),
            ("row_no", Integer, {"default": 0}),
            ("line_no", Integer, {"default": 0}),
            ("contract_number", Varchar, {"length": 100, **_WHEN}),
            ("state", Varchar, {"length": 12, "default": ""}),
            ("problems", JSON, {"default": "{}"}),
            ("existing_case_id", UUID, _WHEN),
        ],
    ),
    "loan_contract": (
        "LoanContract",
        [
            ("id", UUID, {"default": UUID4(), "primary_key": True}),
            ("tenant_id", UUID, {"default": UUID4()}),
            ("lender_id_number", Varchar, {"length": 32, "default": ""}),
            ("contract_number", Varchar, {"length": 100, "default": ""}),
            ("case_id", UUID, {"default": UUID4()}),
            ("batch_id", UUID, _WHEN),
            ("row_no", Integer, _WHEN),
            ("client_id", Varchar, {"length": 64, **_WHEN}),
            ("amount_claimed", Numeric, {"digits": (16, 2), "default": Decimal("0")}),
            ("interest_claimed", Numeric, {"digits": (16, 2), "default": Decimal("0")}),
            ("interest_supported", Numeric, {"digits": (16, 2), "default": Decimal("0")}),
            ("over_cap", Boolean, {"default": False}),
            ("created_at", Timestamptz, _NOW),
        ],
    ),
}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="arbitral", description=DESCRIPTION)
    for tablename, (class_name, columns) in _TABLES.items():
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
        for name, column_class, extra in columns:
            params = {
                "null": False,
                "primary_key": False,
                "unique": False,
                "index": False,
                "index_method": IndexMethod.btree,
                "choices": None,
                "db_column_name": None,
                "secret": False,
                **extra,
            }
            manager.add_column(
                table_class_name=class_name,
                tablename=tablename,
                column_name=name,
                db_column_name=name,
                column_class_name=column_class.__name__,
                column_class=column_class,
                params=params,
                schema=None,
            )
    return manager


SQL = [
    # The same Idempotency-Key from the same submitter finds the first batch.
    "CREATE UNIQUE INDEX claim_batch_key ON claim_batch (tenant_id, filed_by, idempotency_key)",
    "CREATE INDEX claim_batch_client ON claim_batch (tenant_id, client_id, created_at)",
    "CREATE UNIQUE INDEX batch_problem_row ON batch_problem (tenant_id, batch_id, row_no)",
    # One case per lender and contract, whatever the batches or retries.
    "CREATE UNIQUE INDEX loan_contract_once ON loan_contract "
    "(tenant_id, lender_id_number, contract_number)",
    "CREATE UNIQUE INDEX loan_contract_case ON loan_contract (tenant_id, case_id)",
    "CREATE INDEX loan_contract_batch ON loan_contract (tenant_id, batch_id, row_no)",
]

POSTGRES_SQL = [
    *tenant_owned("claim_batch", references=[("file_object_id", "custody_object")]),
    *tenant_owned("batch_problem", references=[("batch_id", "claim_batch")]),
    *tenant_owned(
        "loan_contract", references=[("case_id", "arb_case"), ("batch_id", "claim_batch")]
    ),
]
