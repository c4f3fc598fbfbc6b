"""Provisioning a PostgreSQL database with an owner role and an application role.

The owner role owns the schema and the tables and runs migrations; the
application role, which the web and worker processes use, owns nothing and
has no BYPASSRLS, so row-level security binds it. Default privileges give the
application role DML (not DDL) on everything the owner creates later.
Run once per database by an operator with a superuser connection
(``arbitral db provision``); running it again changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import asyncpg

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class ProvisionedDatabase:
    app_url: str
    owner_url: str
    created_roles: list[str]
    created_database: bool


def _ident(kind: str, name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"{kind} {name!r} must be a lower-case SQL identifier ([a-z_][a-z0-9_]*)")
    return f'"{name}"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def provision_postgres(
    superuser_url: str,
    *,
    database: str,
    owner: str,
    app_role: str,
    owner_password: str | None = None,
    app_password: str | None = None,
) -> ProvisionedDatabase:
    db_ident = _ident("database", database)
    owner_ident = _ident("owner role", owner)
    app_ident = _ident("application role", app_role)
    if owner == app_role:
        raise ValueError("the owner role and the application role must differ")

    created_roles: list[str] = []
    conn = await asyncpg.connect(superuser_url, timeout=10)
    try:
        current = await conn.fetchval("SELECT current_user")
        if current in (owner, app_role):
            raise ValueError(
                f"role {current!r} is the connecting superuser; name other roles for Arbitral"
            )
        for name, ident, password in (
            (owner, owner_ident, owner_password),
            (app_role, app_ident, app_password),
        ):
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name)
            pw = f" PASSWORD {_literal(password)}" if password else ""
            if not exists:
                await conn.execute(
                    f"CREATE ROLE {ident} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                    f"NOBYPASSRLS NOREPLICATION{pw}"
                )
                created_roles.append(name)
            else:
                await conn.execute(f"ALTER ROLE {ident} NOSUPERUSER NOBYPASSRLS{pw}")
        created_database = not await conn.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", database
        )
        if created_database:
            await conn.execute(f"CREATE DATABASE {db_ident} OWNER {owner_ident}")
    finally:
        await conn.close()

    parts = urlsplit(superuser_url)
    db_url = parts._replace(path=f"/{database}").geturl()
    conn = await asyncpg.connect(db_url, timeout=10)
    try:
        async with conn.transaction():
            for statement in (
                f"REVOKE ALL ON DATABASE {db_ident} FROM PUBLIC",
                f"GRANT CONNECT, TEMPORARY ON DATABASE {db_ident} TO {owner_ident}, {app_ident}",
                f"ALTER SCHEMA public OWNER TO {owner_ident}",
                "REVOKE ALL ON SCHEMA public FROM PUBLIC",
                f"GRANT USAGE ON SCHEMA public TO {app_ident}",
                f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner_ident} IN SCHEMA public "
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app_ident}",
                f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner_ident} IN SCHEMA public "
                f"GRANT USAGE, SELECT ON SEQUENCES TO {app_ident}",
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public "
                f"TO {app_ident}",
                f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app_ident}",
            ):
                await conn.execute(statement)
    finally:
        await conn.close()

    def role_url(role: str, password: str | None) -> str:
        host = parts.hostname or "localhost"
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
        auth = quote(role) + (f":{quote(password, safe='')}" if password else "")
        return f"postgresql://{auth}@{host}{port}/{database}"

    return ProvisionedDatabase(
        app_url=role_url(app_role, app_password),
        owner_url=role_url(owner, owner_password),
        created_roles=created_roles,
        created_database=created_database,
    )


async def drop_database(superuser_url: str, database: str) -> None:
    """Drop a database (tests and tear-down), disconnecting its sessions first."""
    db_ident = _ident("database", database)
    conn = await asyncpg.connect(superuser_url, timeout=10)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
        await conn.execute(f"DROP DATABASE IF EXISTS {db_ident}")
    finally:
        await conn.close()
