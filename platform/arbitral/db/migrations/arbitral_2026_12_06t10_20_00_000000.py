from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T10:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = (
    "Service of process: a notice's subject (the tribunal it announces, the hearing slot or "
    "round) and the variables it was rendered with, so one notice can be served again for "
    "a new subject (a tribunal constituted again, a hearing rescheduled)"
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="arbitral", description=DESCRIPTION)

    manager.add_column(
        table_class_name="ServiceRequest",
        tablename="service_request",
        column_name="subject",
        db_column_name="subject",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 100,
            "default": "",
            "null": False,
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

    manager.add_column(
        table_class_name="ServiceRequest",
        tablename="service_request",
        column_name="variables",
        db_column_name="variables",
        column_class_name="JSON",
        column_class=JSON,
        params={
            "default": "{}",
            "null": False,
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
    # One request per case, party, notice and subject: starting service twice serves once,
    # and a new subject (a tribunal constituted again, a hearing moved) is a new notice.
    "DROP INDEX service_request_notice",
    "CREATE UNIQUE INDEX service_request_notice ON service_request "
    "(tenant_id, case_id, party_id, notice, subject)",
]
