"""Webhooks (issue 8): each API client's endpoint and the events delivered to it."""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, UUID, Bytea, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod

from arbitral.db.tenant_sql import tenant_owned

ID = "2026-12-06T13:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Webhook endpoints of API clients and their deliveries"

_NOW: dict[str, Any] = {"default": TimestamptzNow()}
_WHEN: dict[str, Any] = {"default": None, "null": True}
_TABLES: dict[str, tuple[str, list[tuple[str, Any, dict[str, Any]]]]] = {
    "webhook_endpoint": (
        "WebhookEndpoint",
        [
            ("id", UUID, {"default": UUID4(), "primary_key": True}),
            ("tenant_id", UUID, {"default": UUID4()}),
            ("api_client_id", UUID, {"default": UUID4()}),
            ("client_id", Varchar, {"length": 64, "default": ""}),
            ("url", Varchar, {"length": 2000, "default": ""}),
            ("secret_enc", Bytea, {"default": b""}),
            ("previous_secret_enc", Bytea, _WHEN),
            ("previous_until", Timestamptz, _WHEN),
            ("status", Varchar, {"length": 16, "default": "active"}),
            ("created_at", Timestamptz, _NOW),
            ("updated_at", Timestamptz, _NOW),
            ("secret_rotated_at", Timestamptz, _NOW),
        ],
    ),
    "webhook_delivery": (
        "WebhookDelivery",
        [
            ("id", UUID, {"default": UUID4(), "primary_key": True}),
            ("tenant_id", UUID, {"default": UUID4()}),
            ("endpoint_id", UUID, {"default": UUID4()}),
            ("client_id", Varchar, {"length": 64, "default": ""}),
            ("event_type", Varchar, {"length": 64, "default": ""}),
            ("event_key", Varchar, {"length": 200, **_WHEN}),
            ("payload", JSON, {"default": "{}"}),
            ("status", Varchar, {"length": 12, "default": "pending"}),
            ("attempts", Integer, {"default": 0}),
            ("next_at", Timestamptz, _WHEN),
            ("last_status_code", Integer, _WHEN),
            ("last_error", Varchar, {"length": 500, **_WHEN}),
            ("created_at", Timestamptz, _NOW),
            ("delivered_at", Timestamptz, _WHEN),
            ("lease_until", Timestamptz, _WHEN),
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
    # One endpoint per API client.
    "CREATE UNIQUE INDEX webhook_endpoint_client ON webhook_endpoint (tenant_id, client_id)",
    # A caller's key names one event per client and type (NULL keys never collide).
    "CREATE UNIQUE INDEX webhook_delivery_key ON webhook_delivery "
    "(tenant_id, client_id, event_type, event_key)",
    "CREATE INDEX webhook_delivery_recent ON webhook_delivery (tenant_id, endpoint_id, created_at)",
]

POSTGRES_SQL = [
    *tenant_owned("webhook_endpoint", references=[("api_client_id", "api_client")]),
    *tenant_owned("webhook_delivery", references=[("endpoint_id", "webhook_endpoint")]),
]
