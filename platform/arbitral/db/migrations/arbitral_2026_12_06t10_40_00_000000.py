"""Awards: drafts, the tribunal's votes, and the signed documents issued for a case (issue 7)."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, UUID, Date, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod

from arbitral.db.tenant_sql import append_only_postgres, append_only_sqlite, tenant_owned

ID = "2026-12-06T10:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Awards, the tribunal's votes on them, and the signed documents of a case"

_TABLES: dict[str, tuple[str, list[tuple[str, Any, dict[str, Any]]]]] = {
    "award": (
        "Award",
        [
            ("id", UUID, {"default": UUID4(), "primary_key": True}),
            ("tenant_id", UUID, {"default": UUID4()}),
            ("case_id", UUID, {"default": UUID4()}),
            ("kind", Varchar, {"length": 16, "default": ""}),
            ("corrects_id", UUID, {"default": None, "null": True}),
            ("status", Varchar, {"length": 16, "default": "draft"}),
            ("content", JSON, {"default": "{}"}),
            ("version", Integer, {"default": 1}),
            ("drafted_by", Varchar, {"length": 200, "default": ""}),
            ("drafted_at", Timestamptz, {"default": TimestamptzNow()}),
            ("updated_at", Timestamptz, {"default": TimestamptzNow()}),
            ("approved_at", Timestamptz, {"default": None, "null": True}),
            ("issue_requested_by", Varchar, {"length": 200, "default": None, "null": True}),
            ("issue_requested_at", Timestamptz, {"default": None, "null": True}),
            ("issued_at", Timestamptz, {"default": None, "null": True}),
            ("effective_on", Date, {"default": None, "null": True}),
            ("document_id", UUID, {"default": None, "null": True}),
        ],
    ),
    "award_vote": (
        "AwardVote",
        [
            ("id", UUID, {"default": UUID4(), "primary_key": True}),
            ("tenant_id", UUID, {"default": UUID4()}),
            ("case_id", UUID, {"default": UUID4()}),
            ("award_id", UUID, {"default": UUID4()}),
            ("arbitrator_id", UUID, {"default": UUID4()}),
            ("vote", Varchar, {"length": 16, "default": ""}),
            ("opinion", Text, {"default": ""}),
            ("content_sha256", Varchar, {"length": 64, "default": ""}),
            ("voted_at", Timestamptz, {"default": TimestamptzNow()}),
        ],
    ),
    "case_document": (
        "CaseDocument",
        [
            ("id", UUID, {"default": UUID4(), "primary_key": True}),
            ("tenant_id", UUID, {"default": UUID4()}),
            ("case_id", UUID, {"default": UUID4()}),
            ("award_id", UUID, {"default": None, "null": True}),
            ("kind", Varchar, {"length": 32, "default": ""}),
            ("verification_code", Varchar, {"length": 32, "default": ""}),
            ("sha256", Varchar, {"length": 64, "default": ""}),
            ("size", Integer, {"default": 0}),
            ("pages", Integer, {"default": 0}),
            ("custody_item_id", UUID, {"default": None, "null": True}),
            ("leaf_index", Integer, {"default": None, "null": True}),
            ("signed_at", Timestamptz, {"default": TimestamptzNow()}),
            ("issued_at", Timestamptz, {"default": TimestamptzNow()}),
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
    "CREATE INDEX award_case ON award (tenant_id, case_id)",
    # At most one award of a case in the making (drafted, approved, being issued) at a time.
    "CREATE UNIQUE INDEX award_open ON award (tenant_id, case_id) WHERE status <> 'issued'",
    "CREATE UNIQUE INDEX award_vote_once ON award_vote (tenant_id, award_id, arbitrator_id)",
    "CREATE UNIQUE INDEX case_document_code ON case_document (tenant_id, verification_code)",
    # A document is issued once per award, whatever retries the job makes.
    "CREATE UNIQUE INDEX case_document_award ON case_document (tenant_id, award_id) "
    "WHERE award_id IS NOT NULL",
    "CREATE INDEX case_document_case ON case_document (tenant_id, case_id)",
]

POSTGRES_SQL = [
    *tenant_owned("award", references=[("case_id", "arb_case"), ("corrects_id", "award")]),
    *tenant_owned(
        "award_vote",
        references=[
            ("case_id", "arb_case"),
            ("award_id", "award"),
            ("arbitrator_id", "tenant_user"),
        ],
    ),
    *tenant_owned("case_document", references=[("case_id", "arb_case"), ("award_id", "award")]),
    *append_only_postgres("case_document"),
]

SQLITE_SQL = [*append_only_sqlite("case_document")]
