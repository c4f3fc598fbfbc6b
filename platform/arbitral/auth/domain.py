"""Who may do what: roles, permissions, principals and the per-case rule (pure Python).

Every route names one :class:`Permission` (or declares itself public); a
principal holds permissions through its roles (people) or its scopes (API
clients). What a principal may see *within* a permission (its own cases, the
cases where it sits) is decided by the ``access_*`` functions of each context,
with :func:`may_access_case` as the rule for cases.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID


class Role(StrEnum):
    """A role a person holds in one commission (alliance admin is above the tenants)."""

    COMMISSION_ADMIN = "commission_admin"
    SECRETARY = "secretary"
    ARBITRATOR = "arbitrator"
    CLAIMANT = "claimant"
    RESPONDENT = "respondent"
    AGENT = "agent"


class ClientKind(StrEnum):
    """The kinds of machine clients of a commission."""

    LENDER = "lender"
    TRADING_PLATFORM = "trading_platform"
    COURT = "court"


class PrincipalKind(StrEnum):
    USER = "user"
    API_CLIENT = "api_client"
    PLATFORM_ADMIN = "platform_admin"
    OPERATOR = "operator"  # someone at the console (arbitral CLI), never over HTTP


class Permission(StrEnum):
    """What a route requires. Values double as OAuth scopes for API clients."""

    # Any authenticated member of the tenant.
    TENANT_READ = "tenant:read"
    SELF_MANAGE = "self:manage"
    # Commission administration.
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"
    MEMBERSHIPS_MANAGE = "memberships:manage"
    POWERS_READ = "powers:read"
    POWERS_MANAGE = "powers:manage"
    API_CLIENTS_MANAGE = "api_clients:manage"
    AUDIT_READ = "audit:read"
    KEYS_MANAGE = "keys:manage"
    # Cases (the lifecycle arrives later; the rule for which cases is may_access_case).
    CASES_FILE = "cases:file"
    CASES_READ = "cases:read"
    CASES_MANAGE = "cases:manage"
    CASES_DECIDE = "cases:decide"
    EVIDENCE_SUBMIT = "evidence:submit"
    BATCHES_SUBMIT = "batches:submit"
    COURT_PACKAGES = "court:packages"
    # Above the tenants.
    PLATFORM_TENANTS_READ = "platform:tenants:read"
    PLATFORM_SELF = "platform:self"


_MEMBER = {Permission.TENANT_READ, Permission.SELF_MANAGE}
_PARTY = _MEMBER | {Permission.CASES_FILE, Permission.CASES_READ, Permission.EVIDENCE_SUBMIT}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.COMMISSION_ADMIN: frozenset(
        _MEMBER
        | {
            Permission.USERS_READ,
            Permission.USERS_MANAGE,
            Permission.MEMBERSHIPS_MANAGE,
            Permission.POWERS_READ,
            Permission.POWERS_MANAGE,
            Permission.API_CLIENTS_MANAGE,
            Permission.AUDIT_READ,
            Permission.KEYS_MANAGE,
            Permission.CASES_READ,
            Permission.CASES_MANAGE,
        }
    ),
    Role.SECRETARY: frozenset(
        _MEMBER
        | {
            Permission.USERS_READ,
            Permission.POWERS_READ,
            Permission.POWERS_MANAGE,
            Permission.CASES_READ,
            Permission.CASES_MANAGE,
        }
    ),
    Role.ARBITRATOR: frozenset(_MEMBER | {Permission.CASES_READ, Permission.CASES_DECIDE}),
    Role.CLAIMANT: frozenset(_PARTY),
    Role.RESPONDENT: frozenset(_PARTY),
    Role.AGENT: frozenset(_PARTY),
}

# The scopes an API client of each kind may be granted (it holds a subset).
CLIENT_SCOPES: dict[ClientKind, frozenset[Permission]] = {
    ClientKind.LENDER: frozenset(
        {
            Permission.TENANT_READ,
            Permission.CASES_FILE,
            Permission.CASES_READ,
            Permission.BATCHES_SUBMIT,
            Permission.EVIDENCE_SUBMIT,
        }
    ),
    ClientKind.TRADING_PLATFORM: frozenset(
        {Permission.TENANT_READ, Permission.EVIDENCE_SUBMIT, Permission.CASES_FILE}
    ),
    ClientKind.COURT: frozenset(
        {Permission.TENANT_READ, Permission.COURT_PACKAGES, Permission.CASES_READ}
    ),
}

PLATFORM_ADMIN_PERMISSIONS = frozenset({Permission.PLATFORM_TENANTS_READ, Permission.PLATFORM_SELF})


def permissions_of_roles(roles: Iterable[Role]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return frozenset(granted)


def grantable_scopes(kind: ClientKind, requested: Iterable[str]) -> frozenset[Permission]:
    """The requested scopes, checked against what a client of ``kind`` may hold.

    Raises ValueError naming the first scope that is unknown or not allowed.
    """
    allowed = CLIENT_SCOPES[kind]
    granted: set[Permission] = set()
    for scope in requested:
        try:
            permission = Permission(scope)
        except ValueError:
            raise ValueError(f"unknown scope {scope!r}") from None
        if permission not in allowed:
            raise ValueError(f"scope {scope!r} is not available to {kind.value} clients")
        granted.add(permission)
    return frozenset(granted)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated party of a request."""

    kind: PrincipalKind
    subject_id: UUID
    tenant_id: UUID | None  # None for an alliance admin only
    permissions: frozenset[Permission]
    roles: frozenset[Role] = frozenset()
    client_id: str | None = None
    client_kind: ClientKind | None = None
    session_id: UUID | None = None
    auth_method: str = ""
    display_name: str = ""

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    @classmethod
    def operator(cls, tenant_id: UUID, name: str) -> Principal:
        """The operator running an ``arbitral`` command on one tenant (all permissions)."""
        return cls(
            kind=PrincipalKind.OPERATOR,
            subject_id=UUID(int=0),
            tenant_id=tenant_id,
            permissions=frozenset(Permission),
            auth_method="console",
            display_name=name,
        )

    @property
    def actor_id(self) -> str:
        """How the audit trail names this principal."""
        if self.kind is PrincipalKind.API_CLIENT and self.client_id:
            return self.client_id
        if self.kind is PrincipalKind.OPERATOR:
            return self.display_name
        return str(self.subject_id)


@dataclass(frozen=True, slots=True)
class CaseParticipation:
    """Who takes part in one case, as the case lifecycle records it."""

    claimants: frozenset[UUID] = frozenset()
    respondents: frozenset[UUID] = frozenset()
    arbitrators: frozenset[UUID] = frozenset()
    secretaries: frozenset[UUID] = frozenset()
    # Agent user id -> the parties (user ids) it acts for in this case, by a power of attorney.
    agents: dict[UUID, frozenset[UUID]] = field(default_factory=dict)
    filed_by_client: str | None = None
    court_clients: frozenset[str] = frozenset()


def may_access_case(principal: Principal, case: CaseParticipation) -> bool:
    """The per-case rule: staff see their commission's cases; everyone else only theirs.

    - commission admins and secretaries: every case of the tenant;
    - arbitrators: the cases where they sit on the tribunal;
    - claimants and respondents: their own cases;
    - agents: the cases of parties they hold a power of attorney for;
    - API clients: a lender the cases it filed, a court the cases handed to it.
    """
    if principal.kind is PrincipalKind.API_CLIENT:
        if principal.client_id is None:
            return False
        return principal.client_id == case.filed_by_client or (
            principal.client_kind is ClientKind.COURT and principal.client_id in case.court_clients
        )
    if principal.kind is not PrincipalKind.USER:
        return False
    roles = principal.roles
    if Role.COMMISSION_ADMIN in roles or Role.SECRETARY in roles:
        return True
    me = principal.subject_id
    if Role.ARBITRATOR in roles and me in case.arbitrators:
        return True
    if (Role.CLAIMANT in roles or Role.RESPONDENT in roles) and (
        me in case.claimants or me in case.respondents
    ):
        return True
    if Role.AGENT in roles:
        parties = case.agents.get(me, frozenset())
        return bool(parties & (case.claimants | case.respondents))
    return False
