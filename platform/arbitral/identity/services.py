"""Use cases of the identity context: users, memberships, powers of attorney.

Every function takes the acting principal, opens one unit of work in the
principal's tenant and reaches rows only through the ``access_*`` functions
below: a row of another tenant, or one the principal may not see, is a 404,
the same as a row that does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from arbitral.audit.services import Actor, record
from arbitral.auth.credentials import WeakPassword, hash_password
from arbitral.auth.domain import Principal, PrincipalKind, Role
from arbitral.db.values import as_datetime, as_optional_datetime, as_uuid
from arbitral.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from arbitral.identity.domain import (
    check_power_scope,
    check_validity,
    normalize_email,
    normalize_phone,
)
from arbitral.identity.schemas import (
    MembershipOut,
    PowerOfAttorneyCreate,
    PowerOfAttorneyOut,
    UserCreate,
    UserOut,
    UserPage,
    UserUpdate,
)

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime

MAX_PAGE = 100
ADMINS = "SELECT id FROM membership WHERE tenant_id = {} AND role = {} AND revoked_at IS NULL"
ADMINS_FOR_UPDATE = ADMINS + " FOR UPDATE"


def actor_of(principal: Principal) -> Actor:
    kind = {
        PrincipalKind.USER: "user",
        PrincipalKind.API_CLIENT: "api_client",
        PrincipalKind.PLATFORM_ADMIN: "platform_admin",
        PrincipalKind.OPERATOR: "operator",
    }[principal.kind]
    return Actor(kind, principal.actor_id)  # type: ignore[arg-type]


def tenant_of(principal: Principal) -> UUID:
    if principal.tenant_id is None:
        raise NotFound("no such object")
    return principal.tenant_id


# -- access -------------------------------------------------------------------------


async def access_user(uow: UnitOfWork, principal: Principal, user_id: UUID) -> dict[str, Any]:
    """The user ``user_id`` if the principal's tenant has it; 404 otherwise."""
    rows = await uow.fetch(
        "SELECT * FROM tenant_user WHERE tenant_id = {} AND id = {}", tenant_of(principal), user_id
    )
    if not rows:
        raise NotFound("no such user")
    return rows[0]


async def access_power(uow: UnitOfWork, principal: Principal, power_id: UUID) -> dict[str, Any]:
    rows = await uow.fetch(
        "SELECT * FROM power_of_attorney WHERE tenant_id = {} AND id = {}",
        tenant_of(principal),
        power_id,
    )
    if not rows:
        raise NotFound("no such power of attorney")
    return rows[0]


# -- users --------------------------------------------------------------------------


def _contact(
    email: str | None, phone: str | None, problems: list[FieldProblem]
) -> tuple[str | None, str | None]:
    out_email = out_phone = None
    if email is not None:
        try:
            out_email = normalize_email(email)
        except ValueError as exc:
            problems.append(FieldProblem("$.email", "format", str(exc)))
    if phone is not None:
        try:
            out_phone = normalize_phone(phone)
        except ValueError as exc:
            problems.append(FieldProblem("$.phone", "format", str(exc)))
    return out_email, out_phone


async def _check_unique(
    uow: UnitOfWork, tenant_id: UUID, email: str | None, phone: str | None, exclude: UUID | None
) -> None:
    problems = []
    if email is not None:
        rows = await uow.fetch(
            "SELECT id FROM tenant_user WHERE tenant_id = {} AND lower(email) = lower({})",
            tenant_id,
            email,
        )
        if any(str(r["id"]) != str(exclude) for r in rows):
            problems.append(FieldProblem("$.email", "unique", "another user has this address"))
    if phone is not None:
        rows = await uow.fetch(
            "SELECT id FROM tenant_user WHERE tenant_id = {} AND phone = {}", tenant_id, phone
        )
        if any(str(r["id"]) != str(exclude) for r in rows):
            problems.append(FieldProblem("$.phone", "unique", "another user has this number"))
    if problems:
        raise Conflict("the contact details are taken", errors=problems)


async def _memberships(
    uow: UnitOfWork, tenant_id: UUID, user_ids: list[UUID]
) -> dict[str, list[MembershipOut]]:
    found: dict[str, list[MembershipOut]] = {str(u): [] for u in user_ids}
    if not user_ids:
        return found
    marks = ", ".join("{}" for _ in user_ids)
    rows = await uow.fetch(
        "SELECT id, user_id, role, granted_at, granted_by FROM membership "  # noqa: S608 (marks are placeholders)
        f"WHERE tenant_id = {{}} AND revoked_at IS NULL AND user_id IN ({marks}) "
        "ORDER BY granted_at",
        tenant_id,
        *user_ids,
    )
    for row in rows:
        found[str(row["user_id"])].append(
            MembershipOut(
                id=as_uuid(row["id"]),
                role=Role(row["role"]),
                granted_at=as_datetime(row["granted_at"]),
                granted_by=row["granted_by"],
            )
        )
    return found


def _user_out(row: dict[str, Any], memberships: list[MembershipOut]) -> UserOut:
    return UserOut(
        id=as_uuid(row["id"]),
        display_name=row["display_name"],
        email=row["email"],
        phone=row["phone"],
        status=row["status"],
        roles=sorted({m.role for m in memberships}),
        memberships=memberships,
        password_login=bool(row["password_hash"]),
        totp_enabled=row["totp_confirmed_at"] is not None,
        oidc_linked=row["oidc_subject"] is not None,
        created_at=as_datetime(row["created_at"]),
    )


async def create_user(runtime: Runtime, principal: Principal, data: UserCreate) -> UserOut:
    tenant_id = tenant_of(principal)
    problems: list[FieldProblem] = []
    email, phone = _contact(data.email, data.phone, problems)
    if email is None and phone is None and not problems:
        problems.append(
            FieldProblem("$.email", "required", "an email address or a phone number is needed")
        )
    password_hash = None
    if data.password is not None:
        try:
            password_hash = hash_password(data.password)
        except WeakPassword as exc:
            problems.append(FieldProblem("$.password", "strength", str(exc)))
    if len(set(data.roles)) != len(data.roles):
        problems.append(FieldProblem("$.roles", "unique", "a role is listed twice"))
    if problems:
        raise ValidationFailed("the user is not valid", errors=problems)
    now = datetime.now(UTC)
    user_id = uuid4()
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await _check_unique(uow, tenant_id, email, phone, None)
        await uow.execute(
            "INSERT INTO tenant_user (id, tenant_id, display_name, email, phone, status, "
            "password_hash, created_at, updated_at) "
            "VALUES ({}, {}, {}, {}, {}, 'active', {}, {}, {})",
            user_id,
            tenant_id,
            data.display_name.strip(),
            email,
            phone,
            password_hash,
            now,
            now,
        )
        for role in data.roles:
            await _grant(uow, principal, tenant_id, user_id, role)
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="user.created",
            target_kind="user",
            target_id=user_id,
            detail={"roles": sorted(data.roles), "password": password_hash is not None},
        )
        row = await access_user(uow, principal, user_id)
        memberships = await _memberships(uow, tenant_id, [user_id])
    return _user_out(row, memberships[str(user_id)])


async def get_user(runtime: Runtime, principal: Principal, user_id: UUID) -> UserOut:
    async with runtime.db.transaction(tenant_id=tenant_of(principal), readonly=True) as uow:
        row = await access_user(uow, principal, user_id)
        memberships = await _memberships(uow, tenant_of(principal), [user_id])
    return _user_out(row, memberships[str(user_id)])


async def list_users(
    runtime: Runtime, principal: Principal, *, limit: int = 50, after: UUID | None = None
) -> UserPage:
    tenant_id = tenant_of(principal)
    limit = max(1, min(limit, MAX_PAGE))
    async with runtime.db.transaction(tenant_id=tenant_id, readonly=True) as uow:
        if after is None:
            rows = await uow.fetch(
                "SELECT * FROM tenant_user WHERE tenant_id = {} ORDER BY id LIMIT {}",
                tenant_id,
                limit + 1,
            )
        else:
            rows = await uow.fetch(
                "SELECT * FROM tenant_user WHERE tenant_id = {} AND id > {} ORDER BY id LIMIT {}",
                tenant_id,
                after,
                limit + 1,
            )
        page = rows[:limit]
        memberships = await _memberships(uow, tenant_id, [as_uuid(r["id"]) for r in page])
    return UserPage(
        items=[_user_out(r, memberships[str(r["id"])]) for r in page],
        next_cursor=str(page[-1]["id"]) if len(rows) > limit else None,
    )


async def update_user(
    runtime: Runtime, principal: Principal, user_id: UUID, data: UserUpdate
) -> UserOut:
    tenant_id = tenant_of(principal)
    problems: list[FieldProblem] = []
    email, phone = _contact(data.email, data.phone, problems)
    if problems:
        raise ValidationFailed("the change is not valid", errors=problems)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        row = await access_user(uow, principal, user_id)
        await _check_unique(uow, tenant_id, email, phone, user_id)
        changes: dict[str, Any] = {}
        if data.display_name is not None:
            changes["display_name"] = data.display_name.strip()
        if email is not None and email != row["email"]:
            changes["email"] = email
            changes["email_verified_at"] = None
        if phone is not None and phone != row["phone"]:
            changes["phone"] = phone
            changes["phone_verified_at"] = None
        if data.status is not None and data.status != row["status"]:
            if user_id == principal.subject_id:
                raise ValidationFailed(
                    "you cannot disable yourself",
                    errors=[FieldProblem("$.status", "self", "ask another administrator")],
                )
            changes["status"] = data.status
        if changes:
            changes["updated_at"] = datetime.now(UTC)
            # Column names come from the code above; every value is a parameter.
            assignments = ", ".join(f"{column} = {{}}" for column in changes)
            await uow.execute(
                f"UPDATE tenant_user SET {assignments} WHERE tenant_id = {{}} AND id = {{}}",  # noqa: S608
                *changes.values(),
                tenant_id,
                user_id,
            )
            if changes.get("status") == "disabled":
                from arbitral.auth.sessions import revoke_all_sessions

                await revoke_all_sessions(uow, tenant_id=tenant_id, user_id=user_id)
            await record(
                uow,
                tenant_id=tenant_id,
                actor=actor_of(principal),
                action="user.updated",
                target_kind="user",
                target_id=user_id,
                detail={"fields": sorted(k for k in changes if k != "updated_at")},
            )
        row = await access_user(uow, principal, user_id)
        memberships = await _memberships(uow, tenant_id, [user_id])
    return _user_out(row, memberships[str(user_id)])


# -- memberships ---------------------------------------------------------------------


async def _grant(
    uow: UnitOfWork, principal: Principal, tenant_id: UUID, user_id: UUID, role: Role
) -> UUID:
    existing = await uow.fetch(
        "SELECT id FROM membership WHERE tenant_id = {} AND user_id = {} AND role = {} "
        "AND revoked_at IS NULL",
        tenant_id,
        user_id,
        role.value,
    )
    if existing:
        raise Conflict(
            "the user has this role already",
            errors=[FieldProblem("$.role", "unique", f"already {role.value}")],
        )
    membership_id = uuid4()
    await uow.execute(
        "INSERT INTO membership (id, tenant_id, user_id, role, granted_at, granted_by) "
        "VALUES ({}, {}, {}, {}, {}, {})",
        membership_id,
        tenant_id,
        user_id,
        role.value,
        datetime.now(UTC),
        principal.actor_id,
    )
    await record(
        uow,
        tenant_id=tenant_id,
        actor=actor_of(principal),
        action="membership.granted",
        target_kind="user",
        target_id=user_id,
        detail={"role": role.value, "membership": str(membership_id)},
    )
    return membership_id


async def grant_role(runtime: Runtime, principal: Principal, user_id: UUID, role: Role) -> UserOut:
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await access_user(uow, principal, user_id)
        await _grant(uow, principal, tenant_id, user_id, role)
    return await get_user(runtime, principal, user_id)


async def revoke_membership(
    runtime: Runtime, principal: Principal, user_id: UUID, membership_id: UUID
) -> UserOut:
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        await access_user(uow, principal, user_id)
        rows = await uow.fetch(
            "SELECT role FROM membership WHERE tenant_id = {} AND id = {} AND user_id = {} "
            "AND revoked_at IS NULL",
            tenant_id,
            membership_id,
            user_id,
        )
        if not rows:
            raise NotFound("no such membership")
        role = Role(rows[0]["role"])
        if role is Role.COMMISSION_ADMIN:
            # Lock every active admin membership first, so two revocations at once cannot
            # each see the other's admin and leave the commission with none.
            admins = await uow.fetch(
                ADMINS_FOR_UPDATE if uow.is_postgres else ADMINS,
                tenant_id,
                Role.COMMISSION_ADMIN.value,
            )
            if len(admins) <= 1:
                raise Conflict("the commission would have no administrator left")
        await uow.execute(
            "UPDATE membership SET revoked_at = {}, revoked_by = {} "
            "WHERE tenant_id = {} AND id = {}",
            datetime.now(UTC),
            principal.actor_id,
            tenant_id,
            membership_id,
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="membership.revoked",
            target_kind="user",
            target_id=user_id,
            detail={"role": role.value, "membership": str(membership_id)},
        )
    return await get_user(runtime, principal, user_id)


# -- powers of attorney ---------------------------------------------------------------


def _power_out(row: dict[str, Any]) -> PowerOfAttorneyOut:
    return PowerOfAttorneyOut(
        id=as_uuid(row["id"]),
        agent_user_id=as_uuid(row["agent_user_id"]),
        principal_user_id=as_uuid(row["principal_user_id"]),
        scope=row["scope"],
        document_key=row["document_key"],
        document_sha256=row["document_sha256"],
        valid_from=as_datetime(row["valid_from"]),
        valid_until=as_optional_datetime(row["valid_until"]),
        created_at=as_datetime(row["created_at"]),
        revoked_at=as_optional_datetime(row["revoked_at"]),
    )


async def create_power(
    runtime: Runtime, principal: Principal, data: PowerOfAttorneyCreate
) -> PowerOfAttorneyOut:
    """File an agent's power of attorney; the signed document must already be stored."""
    from arbitral.storage.errors import InvalidKey, ObjectNotFound
    from arbitral.storage.interfaces import parse_key

    tenant_id = tenant_of(principal)
    problems: list[FieldProblem] = []
    try:
        check_power_scope(data.scope)
    except ValueError as exc:
        problems.append(FieldProblem("$.scope", "format", str(exc)))
    valid_from = data.valid_from or datetime.now(UTC)
    try:
        check_validity(valid_from, data.valid_until)
    except ValueError as exc:
        problems.append(FieldProblem("$.valid_until", "order", str(exc)))
    if data.agent_user_id == data.principal_user_id:
        problems.append(
            FieldProblem("$.agent_user_id", "distinct", "an agent acts for someone else")
        )
    sha256 = ""
    try:
        namespace, sha256 = parse_key(data.document_key)
        if namespace != str(tenant_id):
            raise InvalidKey(data.document_key)
        await runtime.store.stat(data.document_key)
    except (InvalidKey, ObjectNotFound, ValueError):
        problems.append(
            FieldProblem(
                "$.document_key", "exists", "no stored document of this commission has this key"
            )
        )
    if problems:
        raise ValidationFailed("the power of attorney is not valid", errors=problems)
    power_id = uuid4()
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        agent = await access_user(uow, principal, data.agent_user_id)
        await access_user(uow, principal, data.principal_user_id)
        from arbitral.auth.sessions import active_roles

        if Role.AGENT not in await active_roles(uow, tenant_id, as_uuid(agent["id"])):
            raise ValidationFailed(
                "the agent is not an agent",
                errors=[FieldProblem("$.agent_user_id", "role", "the user needs the agent role")],
            )
        await uow.execute(
            "INSERT INTO power_of_attorney (id, tenant_id, agent_user_id, principal_user_id, "
            "scope, document_key, document_sha256, valid_from, valid_until, created_at, "
            "created_by) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            power_id,
            tenant_id,
            data.agent_user_id,
            data.principal_user_id,
            data.scope,
            data.document_key,
            sha256,
            valid_from,
            data.valid_until,
            datetime.now(UTC),
            principal.actor_id,
        )
        await record(
            uow,
            tenant_id=tenant_id,
            actor=actor_of(principal),
            action="power_of_attorney.created",
            target_kind="power_of_attorney",
            target_id=power_id,
            detail={"agent": str(data.agent_user_id), "for": str(data.principal_user_id)},
        )
        row = await access_power(uow, principal, power_id)
    return _power_out(row)


async def get_power(runtime: Runtime, principal: Principal, power_id: UUID) -> PowerOfAttorneyOut:
    async with runtime.db.transaction(tenant_id=tenant_of(principal), readonly=True) as uow:
        return _power_out(await access_power(uow, principal, power_id))


async def revoke_power(
    runtime: Runtime, principal: Principal, power_id: UUID
) -> PowerOfAttorneyOut:
    tenant_id = tenant_of(principal)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        row = await access_power(uow, principal, power_id)
        if row["revoked_at"] is None:
            await uow.execute(
                "UPDATE power_of_attorney SET revoked_at = {}, revoked_by = {} "
                "WHERE tenant_id = {} AND id = {}",
                datetime.now(UTC),
                principal.actor_id,
                tenant_id,
                power_id,
            )
            await record(
                uow,
                tenant_id=tenant_id,
                actor=actor_of(principal),
                action="power_of_attorney.revoked",
                target_kind="power_of_attorney",
                target_id=power_id,
            )
        return _power_out(await access_power(uow, principal, power_id))


# -- party accounts -----------------------------------------------------------------

PARTY_ROLES = frozenset({Role.CLAIMANT, Role.RESPONDENT, Role.AGENT})


async def ensure_party_account(
    uow: UnitOfWork,
    principal: Principal,
    tenant_id: UUID,
    *,
    name: str,
    email: str | None,
    phone: str | None,
    role: Role,
) -> UUID | None:
    """The account of a party a claim names, reached at its contact details.

    An existing party account with that email address or phone number is
    used (and given ``role`` if it lacks it); otherwise a new account with no
    password is opened (the party logs in with one-time codes sent to those
    addresses). ``None`` when the details belong to someone who is not a
    party (staff, an arbitrator) or to two different accounts: the case then
    names the party without an account, and service reaches it by address.
    """
    if role not in PARTY_ROLES:
        raise ValueError(f"{role.value} is not a party role")
    found: set[str] = set()
    if email is not None:
        rows = await uow.fetch(
            "SELECT id FROM tenant_user WHERE tenant_id = {} AND lower(email) = lower({})",
            tenant_id,
            email,
        )
        found |= {str(r["id"]) for r in rows}
    if phone is not None:
        rows = await uow.fetch(
            "SELECT id FROM tenant_user WHERE tenant_id = {} AND phone = {}", tenant_id, phone
        )
        found |= {str(r["id"]) for r in rows}
    if len(found) > 1:
        return None
    if found:
        user_id = UUID(found.pop())
        held = {
            str(r["role"])
            for r in await uow.fetch(
                "SELECT role FROM membership WHERE tenant_id = {} AND user_id = {} "
                "AND revoked_at IS NULL",
                tenant_id,
                user_id,
            )
        }
        if held - {r.value for r in PARTY_ROLES}:
            return None
        if role.value not in held:
            await _grant(uow, principal, tenant_id, user_id, role)
        return user_id
    user_id = uuid4()
    now = datetime.now(UTC)
    await uow.execute(
        "INSERT INTO tenant_user (id, tenant_id, display_name, email, phone, status, "
        "created_at, updated_at) VALUES ({}, {}, {}, {}, {}, 'active', {}, {})",
        user_id,
        tenant_id,
        name,
        email,
        phone,
        now,
        now,
    )
    await _grant(uow, principal, tenant_id, user_id, role)
    await record(
        uow,
        tenant_id=tenant_id,
        actor=actor_of(principal),
        action="user.created",
        target_kind="user",
        target_id=user_id,
        detail={"roles": [role.value], "password": False, "named_in_claim": True},
    )
    return user_id
