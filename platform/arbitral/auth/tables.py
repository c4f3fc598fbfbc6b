"""Tables of the auth context."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class Session(Table, tablename="session"):
    """A browser session of a user; the cookie holds the tenant id and a secret
    whose SHA-256 is stored here (a stolen table yields no usable cookie)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    user_id = UUID()
    token_hash = Varchar(length=64)
    csrf_token = Varchar(length=64)
    auth_method = Varchar(length=20)
    created_at = Timestamptz()
    last_seen_at = Timestamptz()
    expires_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)
    ip = Varchar(length=64, null=True, default=None)
    user_agent = Varchar(length=300, null=True, default=None)


class PlatformSession(Table, tablename="platform_session"):
    """A browser session of an alliance administrator."""

    id = UUID(primary_key=True)
    admin_id = UUID()
    token_hash = Varchar(length=64, unique=True)
    csrf_token = Varchar(length=64)
    created_at = Timestamptz()
    last_seen_at = Timestamptz()
    expires_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)
    ip = Varchar(length=64, null=True, default=None)


class OtpChallenge(Table, tablename="otp_challenge"):
    """A one-time login code sent to a party's phone or email (only its HMAC is kept)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    channel = Varchar(length=10)
    destination = Varchar(length=254)
    user_id = UUID(null=True, default=None)
    code_hash = Varchar(length=64)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    attempts = Integer(default=0)
    consumed_at = Timestamptz(null=True, default=None)
    ip = Varchar(length=64, null=True, default=None)


class LoginThrottle(Table, tablename="login_throttle"):
    """Counters behind rate limits and lockouts, one row per subject of a limit."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    scope = Varchar(length=300)
    window_start = Timestamptz()
    requests = Integer(default=0)
    failures = Integer(default=0)
    locked_until = Timestamptz(null=True, default=None)


class OidcLoginState(Table, tablename="oidc_login_state"):
    """A login in flight at the tenant's identity provider (state, nonce, PKCE verifier)."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    state_hash = Varchar(length=64)
    code_verifier = Varchar(length=128)
    nonce = Varchar(length=64)
    redirect_to = Varchar(length=500)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    consumed_at = Timestamptz(null=True, default=None)


class ApiClient(Table, tablename="api_client"):
    """A machine client of one commission: a lender, a trading platform, a court."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    client_id = Varchar(length=64, unique=True)
    name = Varchar(length=200)
    kind = Varchar(length=20)
    scopes = JSON()
    status = Varchar(length=16, default="active")
    created_at = Timestamptz()
    created_by = Varchar(length=100, null=True, default=None)


class ApiClientSecret(Table, tablename="api_client_secret"):
    """A client secret (argon2 hash); several may be valid at once during a rotation."""

    id = UUID(primary_key=True)
    tenant_id = UUID()
    api_client_id = UUID()
    secret_hash = Text()
    created_at = Timestamptz()
    expires_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)


class PlatformLoginThrottle(Table, tablename="platform_login_throttle"):
    """Counters of the alliance administrators' login limits (above the tenants)."""

    id = UUID(primary_key=True)
    scope = Varchar(length=300, unique=True)
    window_start = Timestamptz()
    requests = Integer(default=0)
    failures = Integer(default=0)
    locked_until = Timestamptz(null=True, default=None)


class ApiClientKey(Table, tablename="api_client_key"):
    """A public key an API client signs its records with (Ed25519 or P-256).

    ``kid`` is the key's RFC 7638 thumbprint, unique in the commission: one key
    attests for one client. A revoked key verifies nothing from then on; the
    records it signed before stay as they were received.
    """

    id = UUID(primary_key=True)
    tenant_id = UUID()
    api_client_id = UUID()
    kid = Varchar(length=64)
    public_jwk = JSON()
    created_at = Timestamptz()
    created_by = Varchar(length=100, null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
