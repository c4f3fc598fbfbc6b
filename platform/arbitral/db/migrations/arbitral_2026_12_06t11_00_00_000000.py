"""Service: notices and certificates of service as signed documents (issue 7).

``case_document.service_request_id`` names the service request a notice's document (or
its certificate of service) was made for; one document of each kind per request,
however often the job that makes it runs.
"""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import UUID
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "case_document.service_request_id: the notices' documents, once per request"


async def forwards() -> Any:
    manager = MigrationManager(migration_id=ID, app_name="arbitral", description=DESCRIPTION)
    manager.add_column(
        table_class_name="CaseDocument",
        tablename="case_document",
        column_name="service_request_id",
        db_column_name="service_request_id",
        column_class_name="UUID",
        column_class=UUID,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    return manager


SQL = [
    # The notice's document and its certificate of service: each once per request.
    "CREATE UNIQUE INDEX case_document_service_request ON case_document "
    "(tenant_id, service_request_id, kind) WHERE service_request_id IS NOT NULL",
]

POSTGRES_SQL = [
    "ALTER TABLE case_document ADD CONSTRAINT case_document_service_request_id_fkey "
    "FOREIGN KEY (tenant_id, service_request_id) REFERENCES service_request (tenant_id, id)",
]
