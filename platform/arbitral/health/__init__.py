"""Liveness and readiness of the platform's processes and backends."""
