"""OpenID Connect login for staff and arbitrators, against each commission's identity provider.

A commission names its provider in the ``[oidc]`` table of its tenant file
(issuer, client id, a *reference* to the client secret, scopes). The login is
the authorization code flow with PKCE (S256), with Authlib preparing the
protocol messages and joserfc checking the ID token:

* :func:`start_login` keeps a login in flight (the SHA-256 of a random
  ``state`` joined to a random browser binding, the PKCE verifier, a ``nonce``
  and where to go afterwards, for ten minutes) and answers the provider's
  authorization URL and the binding, which the browser keeps in a short-lived
  cookie;
* :func:`finish_login` takes the provider's answer: it consumes the state
  (once, and only with the binding of the browser that started the login: a
  replayed state, or one brought by another browser, is refused), exchanges
  the code at the token endpoint (client authentication + the verifier),
  validates the ID token against the provider's published keys (algorithm
  among those the provider supports and never ``none``, issuer, audience,
  expiry, nonce), finds the user (by issuer and subject; else by a verified
  email of a user not yet linked, who is then linked) and opens a session
  (``auth_method = "oidc"``).

Only commission admins, secretaries and arbitrators log in this way (parties
use one-time codes). Every success and every refusal is audited as
``login.oidc``; every refusal is a problem with a precise reason for the
audit trail: 401 for a refused login, 400 for a bad or spent state, 502 when
the provider does not answer (or answers nonsense, JSON nested too deep
included), a generic 503 when the commission's settings cannot be used (the
precise reason goes to the log), never a 500. A provider's email links a user
only once normalised (ASCII addresses, as Arbitral's own).

The discovery document and the key set of each provider are cached for ten
minutes (:class:`OidcProviders`); an ID token signed by a key the cached set
does not hold makes the set be fetched again, once (the provider rotated).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import httpx
import structlog
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import (
    prepare_grant_uri,
    prepare_token_request,
)
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import ECKey, Key, KeySet, OKPKey, RSAKey

from arbitral import __version__
from arbitral.audit.services import Actor, record, record_alone
from arbitral.auth import throttle
from arbitral.auth.domain import Role
from arbitral.auth.services import LoginFailed, TooManyAttempts
from arbitral.auth.sessions import NewSession, active_roles, create_session
from arbitral.db.values import as_datetime, as_uuid
from arbitral.errors import FieldProblem, NotFound, ProblemError
from arbitral.identity.domain import normalize_email
from arbitral.safejson import decode_json
from arbitral.tenancy.domain import LOCAL_HOSTS

if TYPE_CHECKING:
    from arbitral.db.uow import UnitOfWork
    from arbitral.runtime import Runtime
    from arbitral.tenancy.services import TenantInfo

log = structlog.get_logger(__name__)

ACTION = "login.oidc"
STATE_LIFETIME = timedelta(minutes=10)
METADATA_TTL_S = 600.0
HTTP_TIMEOUT_S = 10.0
CLOCK_LEEWAY_S = 60
MAX_TOKEN_LENGTH = 16_384
MAX_DOCUMENT_BYTES = 512 * 1024
# Provider documents and ID tokens nest a few levels; deeper ones are refused unread
# (a decoder recursing through 100,000 "[" would end in RecursionError, a 500).
MAX_REDIRECT_LENGTH = 500
MAX_PARAMETER_LENGTH = 2048
MAX_BINDING_LENGTH = 100  # the login cookie: 43 characters of base64url

# The roles that may log in by OpenID Connect; parties log in with one-time codes.
OIDC_ROLES = frozenset({Role.COMMISSION_ADMIN, Role.SECRETARY, Role.ARBITRATOR})

# ID-token algorithms we accept, when the provider says it uses them: asymmetric
# only (never "none", nor HS* keyed with the client secret). EdDSA is left out:
# RFC 9864 deprecates it (joserfc warns), Ed25519 is its named successor.
ID_TOKEN_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "Ed25519",
)
_KEY_TYPES: dict[str, type[Key]] = {"RS": RSAKey, "PS": RSAKey, "ES": ECKey, "Ed": OKPKey}

# Failures of OIDC logins from one address, then a pause (as for password logins).
ADDRESS_FAILURES = throttle.Limit(
    max_count=50, window=timedelta(minutes=15), lockout=timedelta(minutes=15)
)
# Logins started from one address: each start stores a row for ten minutes.
ADDRESS_STARTS = throttle.Limit(
    max_count=200, window=timedelta(minutes=15), lockout=timedelta(minutes=15)
)


# -- problems ------------------------------------------------------------------------


class OidcNotConfigured(NotFound):
    """The commission has no ``[oidc]`` table: there is no such login (404)."""


class OidcMisconfigured(ProblemError):
    """The commission's ``[oidc]`` settings cannot be used (a secret reference that
    resolves to nothing, say).

    The caller hears a generic 503: the key and the problem (an environment
    variable's name, a file's path) are for operators, in :attr:`reason` and in
    the log (:func:`log_misconfigured`), never in the response. Never a secret.
    """

    status = 503
    slug = "oidc-misconfigured"
    title = "Single sign-on is not available"

    def __init__(self, key: str, problem: str) -> None:
        super().__init__("single sign-on is not available for this commission right now")
        self.key = key
        self.problem = problem

    @property
    def reason(self) -> str:
        """The precise reason, for operators: ``oidc.client_secret_ref: env:NAME: ...``."""
        return f"{self.key}: {self.problem}"


def log_misconfigured(exc: OidcMisconfigured, tenant: TenantInfo) -> None:
    log.warning("oidc.misconfigured", tenant=tenant.slug, key=exc.key, problem=exc.problem)


class ProviderUnavailable(ProblemError):
    """The identity provider did not answer, or not in a way we can use (502)."""

    status = 502
    slug = "oidc-provider-unavailable"
    title = "Bad gateway"

    def __init__(self, detail: str = "the identity provider did not answer") -> None:
        super().__init__(detail)


class BadLoginState(ProblemError):
    """The ``state`` of a callback is unknown, spent or expired (400)."""

    status = 400
    slug = "oidc-bad-state"
    title = "Bad login state"


class UnsafeRedirect(ProblemError):
    """``redirect_to`` is not a path of this site (400: no open redirects)."""

    status = 400
    slug = "unsafe-redirect"
    title = "Unsafe redirect"


class InvalidIdToken(Exception):
    """The ID token is not acceptable; the message says why (for the audit trail)."""

    def __init__(self, reason: str, *, unknown_key: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unknown_key = unknown_key


# -- the commission's client configuration -----------------------------------------------


@dataclass(frozen=True, slots=True)
class OidcClientConfig:
    """A commission's client at its identity provider (from ``TenantInfo.oidc``)."""

    issuer: str
    client_id: str
    client_secret_ref: str
    scopes: tuple[str, ...]

    @classmethod
    def of(cls, tenant: TenantInfo) -> OidcClientConfig:
        """The tenant's configuration; :class:`OidcNotConfigured` (404) without one."""
        table = tenant.oidc
        if not table:
            raise OidcNotConfigured("this commission has no OpenID Connect login")
        values: dict[str, str] = {}
        for name in ("issuer", "client_id", "client_secret_ref"):
            value = table.get(name)
            if not isinstance(value, str) or not value:
                raise OidcMisconfigured(f"oidc.{name}", "missing")
            values[name] = value
        raw_scopes = table.get("scopes", ("openid",))
        if not isinstance(raw_scopes, (list, tuple)) or not all(
            isinstance(scope, str) for scope in raw_scopes
        ):
            raise OidcMisconfigured("oidc.scopes", "must be a list of strings")
        scopes = tuple(raw_scopes) if "openid" in raw_scopes else ("openid", *raw_scopes)
        return cls(
            issuer=values["issuer"],
            client_id=values["client_id"],
            client_secret_ref=values["client_secret_ref"],
            scopes=scopes,
        )


def _client_config(tenant: TenantInfo) -> OidcClientConfig:
    """:meth:`OidcClientConfig.of`, logging a misconfiguration for operators."""
    try:
        return OidcClientConfig.of(tenant)
    except OidcMisconfigured as exc:
        log_misconfigured(exc, tenant)
        raise


def resolve_client_secret(ref: str, *, environ: Mapping[str, str] | None = None) -> str:
    """The client secret behind ``ref`` (``env:NAME`` or ``file:/path``), read now.

    Raises :class:`OidcMisconfigured` naming the reference and what is wrong
    with it (unset, empty, unreadable); the secret itself is never in a message.
    """
    key = "oidc.client_secret_ref"
    scheme, colon, rest = ref.partition(":")
    if not colon or not rest:
        raise OidcMisconfigured(key, "must be env:NAME or file:/path")
    if scheme == "env":
        value = (os.environ if environ is None else environ).get(rest)
        if value is None:
            raise OidcMisconfigured(key, f"env:{rest}: the environment variable is not set")
        if not value.strip():
            raise OidcMisconfigured(key, f"env:{rest}: the environment variable is empty")
        return value.strip()
    if scheme == "file":
        try:
            text = Path(rest).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise OidcMisconfigured(key, f"file:{rest}: no such file") from None
        except UnicodeDecodeError:
            raise OidcMisconfigured(key, f"file:{rest}: not UTF-8 text") from None
        except OSError as exc:
            raise OidcMisconfigured(key, f"file:{rest}: cannot read: {exc.strerror}") from None
        if not text.strip():
            raise OidcMisconfigured(key, f"file:{rest}: the file is empty")
        return text.strip()
    raise OidcMisconfigured(key, f"{scheme}: is not supported here (env:NAME or file:/path)")


def redirect_uri(public_url: str, slug: str) -> str:
    """Where the provider sends the browser back (registered at the provider)."""
    return f"{public_url}/t/{slug}/auth/oidc/callback"


def safe_redirect(value: str | None) -> str:
    """``value`` if it is a path of this site ("/" when absent); else :class:`UnsafeRedirect`.

    A path starts with one "/" (not "//", nor "/\\" which browsers read as
    "//"), carries no scheme, host, control character or white space (browsers
    drop tabs and line breaks, so "/\\t/evil.example" would become "//evil.example").
    """
    if value is None or value == "":
        return "/"
    problem: str | None = None
    if len(value) > MAX_REDIRECT_LENGTH:
        problem = f"must be at most {MAX_REDIRECT_LENGTH} characters"
    elif not value.startswith("/") or value.startswith(("//", "/\\")):
        problem = 'must be a path of this site, starting with one "/"'
    elif any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        problem = "must not contain white space or control characters"
    else:
        parts = urlsplit(value)
        if parts.scheme or parts.netloc:
            problem = 'must be a path of this site, starting with one "/"'
    if problem is not None:
        raise UnsafeRedirect(
            f"redirect_to {problem}",
            errors=[FieldProblem("redirect_to", "relative-path", problem)],
        )
    return value


# -- the provider: discovery and keys ------------------------------------------------------


def _is_web_url(value: object, *, https_unless_local: bool = True) -> bool:
    if not isinstance(value, str) or len(value) > 2000:
        return False
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment:
        return False
    return not (https_unless_local and parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS)


def _strings(value: object) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


# -- JSON from the provider ------------------------------------------------------------------


async def _read_capped(response: httpx.Response) -> bytes | None:
    """The body of ``response`` (a stream), or None past :data:`MAX_DOCUMENT_BYTES`."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > MAX_DOCUMENT_BYTES:
            return None
    return bytes(body)


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """What Arbitral uses of a provider's discovery document (OpenID Connect Discovery)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    id_token_algorithms: tuple[str, ...]
    token_auth_method: str

    @classmethod
    def from_document(cls, issuer: str, document: object) -> ProviderMetadata:
        """Validate ``document`` as the discovery document of ``issuer``.

        Raises :class:`ProviderUnavailable` naming the first problem.
        """

        def bad(problem: str) -> ProviderUnavailable:
            return ProviderUnavailable(f"the identity provider's discovery document {problem}")

        if not isinstance(document, dict):
            raise bad("is not a JSON object")
        if document.get("issuer") != issuer:
            # Discovery §4.3: the issuer must be exactly the one we asked (mix-up defence).
            raise bad(f"names the issuer {document.get('issuer')!r}, not {issuer!r}")
        endpoints: dict[str, str] = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = document.get(name)
            if not _is_web_url(value):
                raise bad(f"has no usable {name}")
            assert isinstance(value, str)
            endpoints[name] = value
        userinfo = document.get("userinfo_endpoint")
        if userinfo is not None and not _is_web_url(userinfo):
            raise bad("has an unusable userinfo_endpoint")
        response_types = _strings(document.get("response_types_supported"))
        if response_types is not None and "code" not in response_types:
            raise bad('does not offer the response type "code"')
        challenges = _strings(document.get("code_challenge_methods_supported"))
        if challenges is not None and "S256" not in challenges:
            raise bad("does not offer PKCE with S256")
        offered = _strings(document.get("id_token_signing_alg_values_supported")) or ()
        algorithms = tuple(alg for alg in offered if alg in ID_TOKEN_ALGORITHMS)
        if not algorithms:
            raise bad(
                f"signs ID tokens with {', '.join(offered) or 'nothing'}; "
                f"one of {', '.join(ID_TOKEN_ALGORITHMS)} is needed"
            )
        auth_methods = _strings(document.get("token_endpoint_auth_methods_supported")) or (
            "client_secret_basic",
        )
        method = next(
            (m for m in ("client_secret_basic", "client_secret_post") if m in auth_methods), None
        )
        if method is None:
            raise bad("offers neither client_secret_basic nor client_secret_post")
        return cls(
            issuer=issuer,
            authorization_endpoint=endpoints["authorization_endpoint"],
            token_endpoint=endpoints["token_endpoint"],
            jwks_uri=endpoints["jwks_uri"],
            userinfo_endpoint=userinfo if isinstance(userinfo, str) else None,
            id_token_algorithms=algorithms,
            token_auth_method=method,
        )


@dataclass(frozen=True, slots=True)
class _Cached:
    value: Any
    fetched_at: float


class OidcProviders:
    """The providers' discovery documents and key sets, cached per issuer for ``ttl_s``.

    One instance serves a process (see :func:`default_providers`); a test may
    make its own. ``transport`` is for an httpx transport of the caller's
    choice (a proxy, a custom TLS context).
    """

    def __init__(
        self,
        *,
        ttl_s: float = METADATA_TTL_S,
        timeout_s: float = HTTP_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self._clock = clock
        self._transport = transport
        self._metadata: dict[str, _Cached] = {}
        self._keys: dict[str, _Cached] = {}
        self.fetches = 0  # documents fetched over HTTP (discovery and key sets)

    def clear(self) -> None:
        self._metadata.clear()
        self._keys.clear()

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self.timeout_s,
            follow_redirects=False,
            transport=self._transport,
            headers={"user-agent": f"arbitral/{__version__}"},
        )

    def _fresh(self, entry: _Cached | None) -> bool:
        return entry is not None and self._clock() - entry.fetched_at < self.ttl_s

    async def metadata(self, issuer: str) -> ProviderMetadata:
        entry = self._metadata.get(issuer)
        if entry is not None and self._fresh(entry):
            metadata: ProviderMetadata = entry.value
            return metadata
        document = await self._get_json(f"{issuer.rstrip('/')}/.well-known/openid-configuration")
        metadata = ProviderMetadata.from_document(issuer, document)
        self._metadata[issuer] = _Cached(metadata, self._clock())
        return metadata

    async def keys(self, metadata: ProviderMetadata, *, refresh: bool = False) -> KeySet:
        entry = self._keys.get(metadata.jwks_uri)
        if entry is not None and not refresh and self._fresh(entry):
            cached: KeySet = entry.value
            return cached
        document = await self._get_json(metadata.jwks_uri)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ProviderUnavailable("the identity provider's key set is not a JWK set")
        usable = [
            key
            for key in document["keys"]
            if isinstance(key, dict) and key.get("use", "sig") == "sig" and key.get("kty") != "oct"
        ]
        try:
            keys = KeySet.import_key_set({"keys": usable})
        except (JoseError, ValueError, TypeError) as exc:
            raise ProviderUnavailable(
                f"the identity provider's key set cannot be read: {exc}"
            ) from None
        self._keys[metadata.jwks_uri] = _Cached(keys, self._clock())
        return keys

    def remember_keys(self, metadata: ProviderMetadata, keys: KeySet) -> None:
        """Put ``keys`` in the cache as the provider's current set (tests: a stale set)."""
        self._keys[metadata.jwks_uri] = _Cached(keys, self._clock())

    async def verify_id_token(
        self, metadata: ProviderMetadata, token: str, *, client_id: str, nonce: str
    ) -> IdTokenClaims:
        """:func:`validate_id_token` against the provider's keys, fetched again once
        when the token names a key the cached set does not hold."""
        keys = await self.keys(metadata)
        try:
            return validate_id_token(
                token,
                keys,
                issuer=metadata.issuer,
                client_id=client_id,
                nonce=nonce,
                algorithms=metadata.id_token_algorithms,
            )
        except InvalidIdToken as exc:
            if not exc.unknown_key:
                raise
        keys = await self.keys(metadata, refresh=True)
        return validate_id_token(
            token,
            keys,
            issuer=metadata.issuer,
            client_id=client_id,
            nonce=nonce,
            algorithms=metadata.id_token_algorithms,
        )

    async def _get_json(self, url: str) -> object:
        self.fetches += 1
        try:
            async with (
                self.client() as http,
                http.stream("GET", url, headers={"accept": "application/json"}) as response,
            ):
                if response.status_code != 200:
                    log.warning("oidc.provider_status", url=url, status=response.status_code)
                    raise ProviderUnavailable(
                        f"the identity provider answered {response.status_code} for {url}"
                    )
                body = await _read_capped(response)
        except httpx.HTTPError as exc:
            log.warning("oidc.provider_unreachable", url=url, error=type(exc).__name__)
            raise ProviderUnavailable() from None
        if body is None:
            raise ProviderUnavailable(f"the identity provider's answer at {url} is too large")
        try:
            return decode_json(body)
        except ValueError as exc:
            log.warning("oidc.provider_nonsense", url=url, problem=str(exc)[:200])
            raise ProviderUnavailable(
                f"the identity provider's answer at {url} is not JSON"
            ) from None


_DEFAULT_PROVIDERS = OidcProviders()


def default_providers() -> OidcProviders:
    """The process's cache of providers (the web app and the CLI share it)."""
    return _DEFAULT_PROVIDERS


# -- the ID token ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdTokenClaims:
    """The claims of a valid ID token that the login uses."""

    subject: str
    email: str | None
    email_verified: bool
    claims: Mapping[str, Any]


def _b64_json(segment: str) -> object:
    """The JSON in a base64url segment of a JWT (depth-limited), or None."""
    try:
        return decode_json(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):
        return None


def _verification_key(keys: KeySet, header: Mapping[str, Any], alg: str) -> Key:
    key_type = _KEY_TYPES[alg[:2]]
    kid = header.get("kid")
    candidates = [
        key
        for key in keys
        if isinstance(key, key_type)
        and key.get("alg", alg) == alg
        and (kid is None or key.kid == kid)
    ]
    if len(candidates) != 1:
        shown = "no kid" if kid is None else f"kid {kid!r}"
        raise InvalidIdToken(
            f"the ID token is signed by a key the provider does not publish ({shown})",
            unknown_key=True,
        )
    return candidates[0]


def validate_id_token(
    token: str,
    keys: KeySet,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    algorithms: Collection[str],
    now: float | None = None,
    leeway_s: int = CLOCK_LEEWAY_S,
) -> IdTokenClaims:
    """The claims of ``token`` if it is a valid ID token for this login (OIDC Core §3.1.3.7).

    Checks: a compact JWS whose ``alg`` is one of ``algorithms`` (never
    ``none``), signed by one of ``keys``; ``iss`` is ``issuer``; ``aud``
    contains ``client_id`` (and ``azp`` is ``client_id`` when present or
    when there are several audiences); ``exp`` not past and ``iat`` not in
    the future (``leeway_s`` either way); ``sub`` present; ``nonce`` is the
    login's. Raises :class:`InvalidIdToken` with the reason otherwise.
    """
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidIdToken("the ID token is too long")
    segments = token.split(".")
    header = _b64_json(segments[0]) if len(segments) == 3 else None
    if not isinstance(header, dict):
        raise InvalidIdToken("the ID token is not a signed JWT")
    # joserfc reads the claims with json.loads: they must be a JSON object, not too deep.
    if not isinstance(_b64_json(segments[1]), dict):
        raise InvalidIdToken("the ID token's claims are not a JSON object")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        raise InvalidIdToken("the ID token is not signed (alg none)")
    if alg not in algorithms or alg not in ID_TOKEN_ALGORITHMS:
        raise InvalidIdToken(f"the ID token is signed with {alg}, which is not accepted")
    key = _verification_key(keys, header, alg)
    try:
        decoded = jwt.decode(token, key, algorithms=[alg])
    except BadSignatureError:
        raise InvalidIdToken("the ID token's signature does not verify") from None
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidIdToken(f"the ID token cannot be read: {exc}") from None
    claims = decoded.claims
    registry = jwt.JWTClaimsRegistry(
        now=int(time.time() if now is None else now),
        leeway=leeway_s,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise InvalidIdToken("the ID token has expired") from None
    except MissingClaimError as exc:
        raise InvalidIdToken(f"the ID token lacks the claim(s) {exc.claim}") from None
    except InvalidClaimError as exc:
        reasons = {
            "iss": f"the ID token was issued by {claims.get('iss')!r}, not by {issuer!r}",
            "aud": "the ID token is meant for another client (aud)",
            "iat": "the ID token was issued in the future (iat)",
            "nbf": "the ID token is not valid yet (nbf)",
        }
        raise InvalidIdToken(
            reasons.get(exc.claim, f"the ID token's {exc.claim} is invalid")
        ) from None
    audience = claims["aud"]
    audiences = [audience] if isinstance(audience, str) else list(audience)
    if ("azp" in claims or len(audiences) > 1) and claims.get("azp") != client_id:
        raise InvalidIdToken("the ID token was issued to another party (azp)")
    if not isinstance(claims["nonce"], str) or not hmac.compare_digest(
        claims["nonce"].encode(), nonce.encode()
    ):
        raise InvalidIdToken("the ID token's nonce is not this login's")
    return _identity(claims)


def _identity(claims: Mapping[str, Any]) -> IdTokenClaims:
    email = claims.get("email")
    verified = claims.get("email_verified")
    return IdTokenClaims(
        subject=str(claims["sub"]),
        email=email if isinstance(email, str) and email else None,
        # Some providers send the string "true" (OIDC Core §5.1 says boolean).
        email_verified=verified is True or verified == "true",
        claims=dict(claims),
    )


# -- starting a login ----------------------------------------------------------------------


def _state_hash(state: str, binding: str) -> str:
    """What is stored of a login in flight: the SHA-256 of its state and its browser binding."""
    return hashlib.sha256(f"{state}:{binding}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class OidcStart:
    """A login in flight: where to send the browser, and the random value the
    browser keeps (in a short-lived cookie) to prove at the callback that it
    is the one that started this login (no login CSRF with someone else's code)."""

    authorization_url: str
    browser_binding: str = field(repr=False)


def _ip_scope(ip: str | None) -> str:
    return f"oidc-ip:{ip or 'unknown'}"


async def start_login(
    runtime: Runtime,
    tenant: TenantInfo,
    redirect_to: str | None,
    *,
    ip: str | None = None,
    providers: OidcProviders | None = None,
) -> OidcStart:
    """Keep a new login in flight for ten minutes: the provider's authorization URL,
    and the browser binding the caller hands the browser (see :class:`OidcStart`).

    Raises :class:`OidcNotConfigured` (404) without ``[oidc]``,
    :class:`UnsafeRedirect` (400) for a ``redirect_to`` off this site,
    :class:`OidcMisconfigured` (503) when the client secret cannot be read,
    :class:`ProviderUnavailable` (502) when the provider does not answer.
    """
    config = _client_config(tenant)
    try:
        target = safe_redirect(redirect_to)
    except UnsafeRedirect as exc:
        await record_alone(
            runtime.db,
            tenant_id=tenant.id,
            actor=Actor.anonymous(),
            action=ACTION,
            outcome="denied",
            detail={
                "stage": "start",
                "reason": exc.detail,
                "redirect_to": (redirect_to or "")[:200],
            },
        )
        raise
    try:
        resolve_client_secret(config.client_secret_ref)  # fail here, not after the provider
        metadata = await (providers or default_providers()).metadata(config.issuer)
    except (ProviderUnavailable, OidcMisconfigured) as exc:
        await record_alone(
            runtime.db,
            tenant_id=tenant.id,
            actor=Actor.anonymous(),
            action=ACTION,
            outcome="failure",
            detail={"stage": "start", "issuer": config.issuer, **_failure(exc, tenant)},
        )
        raise
    state = secrets.token_urlsafe(32)
    binding = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-] (RFC 7636 §4.1)
    now = datetime.now(UTC)
    refused: throttle.Throttled | None = None
    async with runtime.db.transaction(tenant_id=tenant.id) as uow:
        try:
            await throttle.count_request(
                uow, tenant.id, f"oidc-start-ip:{ip or 'unknown'}", ADDRESS_STARTS
            )
        except throttle.Throttled as exc:
            # The count written above stays: this transaction commits the refusal.
            refused = exc
            await record(
                uow,
                tenant_id=tenant.id,
                actor=Actor.anonymous(),
                action=ACTION,
                outcome="denied",
                detail={"stage": "start", "reason": "address over its start limit"},
            )
        else:
            await uow.execute(
                "DELETE FROM oidc_login_state WHERE tenant_id = {} AND expires_at < {}",
                tenant.id,
                now - timedelta(days=1),
            )
            await uow.execute(
                "INSERT INTO oidc_login_state (id, tenant_id, state_hash, code_verifier, nonce, "
                "redirect_to, created_at, expires_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
                uuid4(),
                tenant.id,
                _state_hash(state, binding),
                verifier,
                nonce,
                target,
                now,
                now + STATE_LIFETIME,
            )
    if refused is not None:
        raise TooManyAttempts(refused.retry_after_s)
    url: str = prepare_grant_uri(
        metadata.authorization_endpoint,
        client_id=config.client_id,
        response_type="code",
        redirect_uri=redirect_uri(runtime.settings.public_url, tenant.slug),
        scope=" ".join(config.scopes),
        state=state,
        nonce=nonce,
        code_challenge=create_s256_code_challenge(verifier),
        code_challenge_method="S256",
    )
    return OidcStart(url, binding)


def _failure(exc: ProviderUnavailable | OidcMisconfigured, tenant: TenantInfo) -> dict[str, str]:
    """The audit detail of a login the provider or the configuration failed."""
    if isinstance(exc, OidcMisconfigured):
        log_misconfigured(exc, tenant)
        # The key only: which environment variable or file is for the log.
        return {"reason": "misconfigured", "key": exc.key}
    return {"reason": exc.detail}


# -- finishing it ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OidcLoginResult:
    session: NewSession
    user_id: UUID
    display_name: str
    redirect_to: str
    linked: bool  # the user was linked to the provider's subject by this login


@dataclass(frozen=True, slots=True)
class _Pending:
    code_verifier: str
    nonce: str
    redirect_to: str


class _Refusal(Exception):
    """A login refused for ``reason``; becomes ``problem`` after it is counted and audited."""

    def __init__(
        self, reason: str, problem: ProblemError, detail: dict[str, Any] | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.problem = problem
        self.detail = detail or {}


_REFUSED = "the identity provider's answer does not log anyone in here"


_STATE_REFUSED = "the login state is not valid (unknown state); log in again"


async def _consume_state(
    runtime: Runtime, tenant_id: UUID, state: str, binding: str | None
) -> _Pending:
    """Mark the login in flight behind ``state`` and the browser's ``binding`` used
    (committed at once: a replay, even a concurrent one, finds it spent).

    Without the binding of the browser that started the login, the state is as
    good as unknown, and the refusal says no more than for an unknown state.
    """
    if not binding or len(binding) > MAX_BINDING_LENGTH:
        raise _Refusal("no login cookie (another browser)", BadLoginState(_STATE_REFUSED))
    now = datetime.now(UTC)
    digest = _state_hash(state, binding)
    async with runtime.db.transaction(tenant_id=tenant_id) as uow:
        rows = await uow.fetch(
            "UPDATE oidc_login_state SET consumed_at = {} "
            "WHERE tenant_id = {} AND state_hash = {} AND consumed_at IS NULL AND expires_at > {} "
            "RETURNING code_verifier, nonce, redirect_to",
            now,
            tenant_id,
            digest,
            now,
        )
        if rows:
            row = rows[0]
            return _Pending(str(row["code_verifier"]), str(row["nonce"]), str(row["redirect_to"]))
        known = await uow.fetch(
            "SELECT consumed_at, expires_at FROM oidc_login_state "
            "WHERE tenant_id = {} AND state_hash = {}",
            tenant_id,
            digest,
        )
    if not known:
        reason = "unknown state"
    elif known[0]["consumed_at"] is not None:
        reason = "state already used"
    elif as_datetime(known[0]["expires_at"]) <= now:
        reason = "state expired"
    else:  # pragma: no cover - consumed between the two statements
        reason = "state already used"
    if reason == "unknown state":  # an unknown state, or another browser's login cookie
        raise _Refusal(reason, BadLoginState(_STATE_REFUSED))
    raise _Refusal(reason, BadLoginState(f"the login state is not valid ({reason}); log in again"))


async def _post_token(
    providers: OidcProviders,
    metadata: ProviderMetadata,
    config: OidcClientConfig,
    secret: str,
    *,
    code: str,
    verifier: str,
    callback: str,
) -> dict[str, Any]:
    body = prepare_token_request(
        "authorization_code", code=code, redirect_uri=callback, code_verifier=verifier
    )
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "accept": "application/json",
    }
    auth = ClientAuth(config.client_id, secret, metadata.token_auth_method)
    url, headers, body = auth.prepare("POST", metadata.token_endpoint, headers, body)
    try:
        async with (
            providers.client() as http,
            http.stream("POST", url, content=body, headers=headers) as response,
        ):
            raw = await _read_capped(response)
    except httpx.HTTPError as exc:
        log.warning("oidc.token_endpoint_unreachable", error=type(exc).__name__)
        raise ProviderUnavailable() from None
    if raw is None:
        raise ProviderUnavailable("the identity provider's token answer is too large")
    try:
        answer = decode_json(raw)
    except ValueError as exc:
        log.warning("oidc.token_endpoint_nonsense", problem=str(exc)[:200])
        answer = None
    if response.status_code in (400, 401) and isinstance(answer, dict) and "error" in answer:
        error = str(answer["error"])[:100]
        raise _Refusal(
            f"token endpoint refused: {error}",
            LoginFailed(f"the identity provider refused the login ({error}); log in again"),
        )
    if response.status_code != 200:
        raise ProviderUnavailable(
            f"the identity provider's token endpoint answered {response.status_code}"
        )
    if not isinstance(answer, dict):
        raise ProviderUnavailable("the identity provider's token answer is not a JSON object")
    if not isinstance(answer.get("id_token"), str):
        raise ProviderUnavailable("the identity provider's token answer has no ID token")
    return answer


async def _userinfo(
    providers: OidcProviders, metadata: ProviderMetadata, access_token: object, subject: str
) -> dict[str, Any]:
    """The UserInfo claims (OIDC Core §5.3), when the ID token had no email claim.

    Empty when there is no endpoint or no usable answer; the answer counts only
    when its ``sub`` is the ID token's (§5.3.4).
    """
    if metadata.userinfo_endpoint is None or not isinstance(access_token, str):
        return {}
    try:
        async with (
            providers.client() as http,
            http.stream(
                "GET",
                metadata.userinfo_endpoint,
                headers={"authorization": f"Bearer {access_token}", "accept": "application/json"},
            ) as response,
        ):
            raw = await _read_capped(response) if response.status_code == 200 else None
    except httpx.HTTPError as exc:
        log.warning("oidc.userinfo_unreachable", error=type(exc).__name__)
        raise ProviderUnavailable() from None
    if raw is None:
        return {}
    try:
        answer = decode_json(raw)
    except ValueError as exc:
        log.warning("oidc.userinfo_nonsense", problem=str(exc)[:200])
        return {}
    if not isinstance(answer, dict) or answer.get("sub") != subject:
        return {}
    return answer


_USER_COLUMNS = "id, display_name, status, email, oidc_issuer, oidc_subject"


async def _user_by_subject(
    uow: UnitOfWork, tenant_id: UUID, issuer: str, subject: str
) -> dict[str, Any] | None:
    rows = await uow.fetch(
        f"SELECT {_USER_COLUMNS} FROM tenant_user "  # noqa: S608 (constant column list)
        "WHERE tenant_id = {} AND oidc_issuer = {} AND oidc_subject = {}",
        tenant_id,
        issuer,
        subject,
    )
    return rows[0] if rows else None


async def _sign_in(
    uow: UnitOfWork,
    *,
    tenant_id: UUID,
    issuer: str,
    identity: IdTokenClaims,
    ip: str | None,
    user_agent: str | None,
) -> tuple[dict[str, Any], NewSession, bool]:
    """Find (or link) the user and open the session, in ``uow``; :class:`_Refusal` if none."""
    user = await _user_by_subject(uow, tenant_id, issuer, identity.subject)
    linked = False
    email: str | None = None
    if user is None:
        if identity.email is None:
            raise _Refusal("unknown subject, no email claim", LoginFailed(_REFUSED))
        if not identity.email_verified:
            raise _Refusal(
                "unknown subject, email not verified by the provider", LoginFailed(_REFUSED)
            )
        # ASCII addresses only, as ours are: lower() folds the Kelvin sign of
        # "\u212aevin@..." into the "k" of someone else's "kevin@...".
        try:
            email = normalize_email(identity.email)
        except ValueError:
            raise _Refusal("unknown subject, email not usable", LoginFailed(_REFUSED)) from None
        rows = await uow.fetch(
            f"SELECT {_USER_COLUMNS} FROM tenant_user "  # noqa: S608 (constant column list)
            "WHERE tenant_id = {} AND lower(email) = lower({})",
            tenant_id,
            email,
        )
        if not rows:
            raise _Refusal("unknown subject and email", LoginFailed(_REFUSED))
        user = rows[0]
        if user["oidc_subject"] is not None:
            raise _Refusal(
                "the email's user is linked to another identity",
                LoginFailed(_REFUSED),
                {"user_id": str(user["id"])},
            )
        linked = True
    user_id = as_uuid(user["id"])
    if user["status"] != "active":
        raise _Refusal("user not active", LoginFailed(_REFUSED), {"user_id": str(user_id)})
    roles = await active_roles(uow, tenant_id, user_id)
    if not roles & OIDC_ROLES:
        raise _Refusal(
            "role may not log in by OpenID Connect",
            LoginFailed(
                "OpenID Connect login is for commission staff and arbitrators; "
                "parties log in with a one-time code"
            ),
            {"user_id": str(user_id), "roles": sorted(roles)},
        )
    if linked:
        updated = await uow.fetch(
            "UPDATE tenant_user SET oidc_issuer = {}, oidc_subject = {}, updated_at = {} "
            "WHERE tenant_id = {} AND id = {} AND oidc_subject IS NULL RETURNING id",
            issuer,
            identity.subject,
            datetime.now(UTC),
            tenant_id,
            user_id,
        )
        if not updated:  # linked by a concurrent login in the meantime
            raise _Refusal("the email's user was linked meanwhile", LoginFailed(_REFUSED))
        await record(
            uow,
            tenant_id=tenant_id,
            actor=Actor("user", str(user_id)),
            action="user.oidc_linked",
            target_kind="user",
            target_id=user_id,
            detail={"issuer": issuer, "subject": identity.subject, "email": email},
        )
    await throttle.reset(uow, tenant_id, _ip_scope(ip))
    session = await create_session(
        uow,
        tenant_id=tenant_id,
        user_id=user_id,
        auth_method="oidc",
        ip=ip,
        user_agent=user_agent,
    )
    await record(
        uow,
        tenant_id=tenant_id,
        actor=Actor("user", str(user_id)),
        action=ACTION,
        target_kind="session",
        target_id=session.session_id,
        detail={
            "issuer": issuer,
            "subject": identity.subject,
            "matched_by": "email" if linked else "subject",
        },
    )
    return user, session, linked


async def finish_login(
    runtime: Runtime,
    tenant: TenantInfo,
    code: str | None,
    state: str | None,
    ip: str | None,
    user_agent: str | None,
    *,
    binding: str | None,
    iss: str | None = None,
    providers: OidcProviders | None = None,
) -> OidcLoginResult:
    """Complete the login the provider sent back with ``code`` and ``state``.

    ``binding`` is the browser binding (see :class:`OidcStart`) the browser
    brought back, if any. ``iss`` is the RFC 9207 issuer parameter of the
    callback, when the provider sends one. Raises :class:`BadLoginState` (400)
    for a missing, unknown, spent or expired state, or one that another browser
    started, :class:`LoginFailed` (401) when the provider's answer does
    not log anyone in here, :class:`ProviderUnavailable` (502),
    :class:`OidcMisconfigured` (503) or :class:`TooManyAttempts` (429). Every
    outcome is audited.
    """
    config = _client_config(tenant)
    providers = providers or default_providers()
    db = runtime.db
    detail: dict[str, Any] = {"issuer": config.issuer}
    try:
        async with db.transaction(tenant_id=tenant.id) as uow:
            await throttle.ensure_not_locked(uow, tenant.id, _ip_scope(ip))
    except throttle.Throttled as exc:
        await record_alone(
            db,
            tenant_id=tenant.id,
            actor=Actor.anonymous(),
            action=ACTION,
            outcome="denied",
            detail={**detail, "reason": "locked"},
        )
        raise TooManyAttempts(exc.retry_after_s) from None
    try:
        if not state or len(state) > MAX_PARAMETER_LENGTH:
            raise _Refusal(
                "missing state", BadLoginState("the callback carries no valid state; log in again")
            )
        pending = await _consume_state(runtime, tenant.id, state, binding)
        if not code or len(code) > MAX_PARAMETER_LENGTH:
            raise _Refusal(
                "missing code", BadLoginState("the callback carries no authorization code")
            )
        if iss is not None and iss != config.issuer:
            raise _Refusal(
                "callback from another issuer",
                LoginFailed("the answer comes from another identity provider"),
                {"callback_iss": iss[:200]},
            )
        secret = resolve_client_secret(config.client_secret_ref)
        metadata = await providers.metadata(config.issuer)
        tokens = await _post_token(
            providers,
            metadata,
            config,
            secret,
            code=code,
            verifier=pending.code_verifier,
            callback=redirect_uri(runtime.settings.public_url, tenant.slug),
        )
        try:
            identity = await providers.verify_id_token(
                metadata, tokens["id_token"], client_id=config.client_id, nonce=pending.nonce
            )
        except InvalidIdToken as exc:
            raise _Refusal(exc.reason, LoginFailed(_REFUSED)) from None
        detail["subject"] = identity.subject
        if identity.email is None:
            async with db.transaction(tenant_id=tenant.id) as uow:
                known = await _user_by_subject(uow, tenant.id, config.issuer, identity.subject)
            if known is None:
                info = await _userinfo(
                    providers, metadata, tokens.get("access_token"), identity.subject
                )
                identity = _identity({**info, **identity.claims, **_email_claims(info)})
        if identity.email is not None:
            detail["email"] = identity.email[:254]
        async with db.transaction(tenant_id=tenant.id) as uow:
            user, session, linked = await _sign_in(
                uow,
                tenant_id=tenant.id,
                issuer=config.issuer,
                identity=identity,
                ip=ip,
                user_agent=user_agent,
            )
    except _Refusal as refusal:
        locked = await throttle.count_failure(db, tenant.id, _ip_scope(ip), ADDRESS_FAILURES)
        await record_alone(
            db,
            tenant_id=tenant.id,
            actor=Actor.anonymous(),
            action=ACTION,
            outcome="failure",
            detail={
                **detail,
                **refusal.detail,
                "reason": refusal.reason,
                "locked": locked is not None,
            },
        )
        log.info("oidc.login_refused", reason=refusal.reason, tenant=tenant.slug)
        raise refusal.problem from None
    except (ProviderUnavailable, OidcMisconfigured) as exc:
        await record_alone(
            db,
            tenant_id=tenant.id,
            actor=Actor.anonymous(),
            action=ACTION,
            outcome="failure",
            detail={**detail, **_failure(exc, tenant)},
        )
        raise
    return OidcLoginResult(
        session=session,
        user_id=as_uuid(user["id"]),
        display_name=str(user["display_name"]),
        redirect_to=pending.redirect_to,
        linked=linked,
    )


def _email_claims(info: Mapping[str, Any]) -> dict[str, Any]:
    """The UserInfo email claims that the ID token lacked (the ID token wins otherwise)."""
    return {name: info[name] for name in ("email", "email_verified") if name in info}


async def refuse_login(
    runtime: Runtime,
    tenant: TenantInfo,
    state: str | None,
    error: str,
    description: str | None,
    *,
    binding: str | None,
) -> None:
    """The provider sent the browser back with an ``error`` (the person declined, say):
    spend the state (when this browser started the login), audit, and raise
    :class:`LoginFailed` (401)."""
    _client_config(tenant)
    spent = False
    if state and len(state) <= MAX_PARAMETER_LENGTH:
        try:
            await _consume_state(runtime, tenant.id, state, binding)
            spent = True
        except _Refusal:
            pass
    shown = re.sub(r"[^A-Za-z0-9_.-]", "", error)[:100] or "unnamed error"
    await record_alone(
        runtime.db,
        tenant_id=tenant.id,
        actor=Actor.anonymous(),
        action=ACTION,
        outcome="failure",
        detail={
            "reason": f"provider error: {shown}",
            "description": (description or "")[:300],
            "state_spent": spent,
        },
    )
    raise LoginFailed(f"the identity provider did not log you in ({shown})")
