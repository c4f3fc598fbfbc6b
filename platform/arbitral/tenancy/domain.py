"""Tenant definitions: ``tenants/<slug>.toml`` parsed and validated, without I/O.

A commission is defined by one TOML file. :func:`parse_tenant` turns the parsed
document into a frozen :class:`TenantSpec`, or reports *every* problem of the
file at once (:class:`InvalidTenantFiles`, a list of :class:`TenantFileError`,
each naming the file, the key and what is wrong). :func:`validate_all` checks
the rules that span files (unique slugs, hosts owned by one tenant only).

Keys and secrets never appear in these files, only references to them
(``generated``, ``kms:…``, ``file:/…``, ``env:NAME``): anything that looks
like key material is refused.

:func:`document_sha256` hashes a document in a canonical JSON form (sorted
keys, no insignificant whitespace), so a re-synced file whose content did not
change (comments and layout aside) makes no new revision.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import json
import re
import string
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

from arbitral.rules.model import check_version

# -- errors ----------------------------------------------------------------------


class TenantFileError(Exception):
    """One problem of one tenant file: ``source: key: problem``."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}")
        self.source = source
        self.key = key
        self.problem = problem

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TenantFileError):
            return NotImplemented
        return (self.source, self.key, self.problem) == (other.source, other.key, other.problem)

    def __hash__(self) -> int:
        return hash((self.source, self.key, self.problem))


class InvalidTenantFiles(Exception):
    """Every problem found in one or more tenant files (never empty)."""

    def __init__(self, errors: Iterable[TenantFileError]) -> None:
        self.errors: tuple[TenantFileError, ...] = tuple(errors)
        if not self.errors:
            raise ValueError("InvalidTenantFiles needs at least one error")
        super().__init__("\n".join(str(error) for error in self.errors))

    @property
    def lines(self) -> list[str]:
        """One line per problem, ``file: key: problem``."""
        return [str(error) for error in self.errors]


# -- the specification -------------------------------------------------------------

KEY_PURPOSES: Final = ("ledger", "jws", "awards", "court")
"""The signing keys a tenant has: transparency ledger, JWS/JWT, award PDFs, court packages."""

KEY_SCHEMES: Final = ("kms", "file", "env")
GENERATED: Final = "generated"
DEFAULT_SCOPES: Final = ("openid", "email", "profile")
SUPPORTED_LANGUAGES: Final = ("zh", "en")
LOGO_SUFFIXES: Final = (".svg", ".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True, slots=True)
class Names:
    zh: str
    en: str

    def for_locale(self, locale: str) -> str:
        """The name to show in ``locale`` (Chinese for ``zh*``, English otherwise)."""
        return self.zh if locale.lower().startswith("zh") else self.en


@dataclass(frozen=True, slots=True)
class RuleSetRef:
    """The alliance rule set a tenant adopts, by id and version (validated when rules load)."""

    id: str
    version: str


@dataclass(frozen=True, slots=True)
class Branding:
    display_name: str
    primary_colour: str | None = None
    logo: str | None = None  # relative to the tenant's asset directory, tenants/<slug>/


@dataclass(frozen=True, slots=True)
class OidcConfig:
    """The tenant's OpenID provider for staff and arbitrator logins."""

    issuer: str
    client_id: str
    client_secret_ref: str  # env:NAME or file:/absolute/path, never the secret
    scopes: tuple[str, ...] = DEFAULT_SCOPES

    def as_dict(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "client_secret_ref": self.client_secret_ref,
            "scopes": list(self.scopes),
        }


@dataclass(frozen=True, slots=True)
class TenantSpec:
    """A validated tenant definition (one ``tenants/<slug>.toml``)."""

    slug: str
    names: Names
    hosts: tuple[str, ...]
    time_zone: str
    locale: str
    rule_set: RuleSetRef
    case_number_format: str
    branding: Branding
    retention_years: int
    key_refs: Mapping[str, str] = field(hash=False)
    oidc: OidcConfig | None = None
    # [batches] automatic_acceptance: the commission lets batch cases that passed every
    # automatic check be accepted without a secretary's review (off unless it says so).
    batch_automatic_acceptance: bool = False
    source: str = field(default="", compare=False)

    def format_case_number(self, year: int, seq: int) -> str:
        return format_case_number(self.case_number_format, year, seq)


# -- case numbers ------------------------------------------------------------------

_SEQ_SPEC = re.compile(r"^(?:d|0(?P<width>[1-9]|1[0-2])d)?$")
_YEAR_SPEC = re.compile(r"^d?$")


class CaseNumberFormatError(ValueError):
    """A case-number format that cannot number cases."""


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    spec: str


def _fields(fmt: str) -> list[_Field]:
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError as exc:
        raise CaseNumberFormatError(
            f"braces do not match: {exc} (write a literal brace as {{{{ or }}}})"
        ) from None
    found: list[_Field] = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in ("year", "seq"):
            shown = "{}" if name == "" else "{" + name + "}"
            raise CaseNumberFormatError(
                f"unknown placeholder {shown}: only {{year}} and {{seq}} are allowed"
            )
        if conversion is not None:
            raise CaseNumberFormatError(f"{{{name}!{conversion}}}: conversions are not allowed")
        spec = spec or ""
        if name == "year" and not _YEAR_SPEC.match(spec):
            raise CaseNumberFormatError(f"{{year:{spec}}}: write the year as {{year}}")
        if name == "seq" and not _SEQ_SPEC.match(spec):
            raise CaseNumberFormatError(
                f"{{seq:{spec}}}: the sequence is {{seq}} or zero-padded as {{seq:0Nd}}, "
                "N from 1 to 12"
            )
        found.append(_Field(name, spec))
    names = [f.name for f in found]
    for required, example in (("year", "{year}"), ("seq", "{seq} or {seq:06d}")):
        count = names.count(required)
        if count == 0:
            raise CaseNumberFormatError(f"must contain {example}")
        if count > 1:
            raise CaseNumberFormatError(f"must contain {{{required}}} once, not {count} times")
    return found


def check_case_number_format(fmt: str) -> None:
    """Raise :class:`CaseNumberFormatError` unless ``fmt`` can number cases."""
    _fields(fmt)
    format_case_number(fmt, 2026, 123)


def format_case_number(fmt: str, year: int, seq: int) -> str:
    """The case number ``seq`` of ``year``, e.g. ``(2026)穗仲网字第000123号``."""
    _fields(fmt)
    if isinstance(year, bool) or not isinstance(year, int) or not 1000 <= year <= 9999:
        raise ValueError(f"year must be a four-digit integer, got {year!r}")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise ValueError(f"seq must be a positive integer, got {seq!r}")
    return fmt.format(year=year, seq=seq)


def parse_case_number(fmt: str, number: str) -> tuple[int, int]:
    """The ``(year, seq)`` that :func:`format_case_number` made ``number`` from."""
    _fields(fmt)
    pieces: list[str] = []
    for literal, name, spec, _conversion in string.Formatter().parse(fmt):
        pieces.append(re.escape(literal))
        if name == "year":
            pieces.append(r"(?P<year>[0-9]{4})")
        elif name == "seq":
            match = _SEQ_SPEC.match(spec or "")
            width = match.group("width") if match else None
            pieces.append(rf"(?P<seq>[0-9]{{{int(width)},}})" if width else r"(?P<seq>[1-9][0-9]*)")
    found = re.fullmatch("".join(pieces), number)
    if found is None:
        raise ValueError(f"{number!r} is not a case number of the format {fmt!r}")
    year, seq = int(found["year"]), int(found["seq"])
    if seq < 1 or format_case_number(fmt, year, seq) != number:
        raise ValueError(f"{number!r} is not a case number of the format {fmt!r}")
    return year, seq


# -- canonical documents -------------------------------------------------------------


def canonical_json(document: Mapping[str, Any]) -> str:
    """``document`` as JSON with sorted keys and no insignificant whitespace."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def document_sha256(document: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) of ``document``'s canonical JSON: independent of key order."""
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


# -- validation ----------------------------------------------------------------------

SLUG = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_LOCALE = re.compile(r"^(?P<lang>[a-z]{2,3})(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|[0-9]{3}))?$")
_RULE_SET_ID = re.compile(r"^[a-z][a-z0-9-]{0,58}/[a-z][a-z0-9-]{0,58}$")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
_KMS_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:/_.+=@-]{0,255}$")
_SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=_-]{32,}")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{48,}")
MAX_NAME_LENGTH: Final = 200
LOCAL_HOSTS: Final = ("localhost", "127.0.0.1", "::1")

_TOP_LEVEL = {
    "slug",
    "names",
    "hosts",
    "time_zone",
    "locale",
    "rule_set",
    "case_number",
    "branding",
    "retention",
    "keys",
    "oidc",
    "batches",
}


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


class _Checker:
    """Collects the problems of one document, keyed by dotted path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[TenantFileError] = []

    def error(self, key: str, problem: str) -> None:
        self.errors.append(TenantFileError(self.source, key, problem))

    def table(
        self,
        document: Mapping[str, Any],
        key: str,
        allowed: Sequence[str],
        *,
        required: bool = True,
    ) -> Mapping[str, Any] | None:
        """The sub-table ``key`` of ``document``, with its unknown keys reported."""
        value = document.get(key.rpartition(".")[2])
        if value is None:
            if required:
                self.error(key, f"missing (a table with {', '.join(allowed)})")
            return None
        if not isinstance(value, dict):
            self.error(key, f"must be a table, not {_type_name(value)}")
            return None
        self.unknown(value, key, allowed)
        return value

    def unknown(self, table: Mapping[str, Any], prefix: str, allowed: Iterable[str]) -> None:
        known = sorted(allowed)
        for name in table:
            if name not in known:
                path = f"{prefix}.{name}" if prefix else name
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(known)})"
                self.error(path, f"unknown key{hint}")

    def string(
        self,
        table: Mapping[str, Any] | None,
        key: str,
        *,
        required: bool = True,
        max_length: int = MAX_NAME_LENGTH,
        secret: str | None = None,
    ) -> str | None:
        """A non-blank string; ``secret`` is the problem to report if it holds key material."""
        if table is None:
            return None
        value = table.get(key.rpartition(".")[2])
        if value is None:
            if required:
                self.error(key, "missing")
            return None
        if not isinstance(value, str):
            self.error(key, f"must be a string, not {_type_name(value)}")
            return None
        if secret is not None and looks_like_key_material(value):
            self.error(key, secret)
            return None
        if not value.strip():
            self.error(key, "must not be empty")
            return None
        if value != value.strip():
            self.error(key, "must not start or end with spaces")
            return None
        if len(value) > max_length:
            self.error(key, f"must be at most {max_length} characters, not {len(value)}")
            return None
        return value

    def matching(
        self,
        table: Mapping[str, Any] | None,
        key: str,
        check: Callable[[str], str | None],
        *,
        required: bool = True,
        max_length: int = MAX_NAME_LENGTH,
        secret: str | None = None,
    ) -> str | None:
        """A string that ``check`` accepts (``check`` returns a problem or None)."""
        value = self.string(table, key, required=required, max_length=max_length, secret=secret)
        if value is None:
            return None
        problem = check(value)
        if problem is not None:
            self.error(key, problem)
            return None
        return value


def _check_slug(value: str) -> str | None:
    if SLUG.match(value):
        return None
    return "must be 2 to 63 characters: lowercase letters, digits and '-', starting with a letter"


def check_host(host: str) -> str | None:
    """The problem with ``host`` as a tenant's host name, or None if it is fine."""
    if host != host.lower():
        return f"{host!r} must be lowercase"
    if ":" in host and not host.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"{host!r} must be a host name without a port or scheme"
        return f"{host!r}: write an IPv6 address in brackets, e.g. [{host}]"
    if host.startswith("["):
        if not host.endswith("]"):
            return f"{host!r} is not a host name"
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return f"{host!r} is not an IPv6 address"
        return None
    if "/" in host:
        return f"{host!r} must be a host name without a port or scheme"
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"{host!r} is not an IPv4 address"
        return None
    if len(host) > 253:
        return f"{host!r} is longer than 253 characters"
    labels = host.split(".")
    for label in labels:
        if not _LABEL.match(label):
            return (
                f"{host!r} is not a host name (labels of letters, digits and '-', "
                "1 to 63 characters, not starting or ending with '-')"
            )
    if labels[-1].isdigit():
        return f"{host!r}: the last label of a host name cannot be numeric"
    return None


def normalise_host(host: str) -> str:
    """A request's ``Host`` as the tenant files write it: lowercase, no port, no final dot."""
    value = host.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[: end + 1] if end != -1 else value
    if value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


def _check_time_zone(value: str) -> str | None:
    if value in _time_zones():
        return None
    close = difflib.get_close_matches(value, sorted(_time_zones()), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown time zone {value!r}{hint}; use an IANA name such as Asia/Shanghai"


def _check_locale(value: str) -> str | None:
    match = _LOCALE.match(value)
    if match is None:
        return f"{value!r} is not a locale such as zh-CN or en"
    if match["lang"] not in SUPPORTED_LANGUAGES:
        return f"language {match['lang']!r} is not supported (supported: zh, en)"
    return None


def _check_rule_set_id(value: str) -> str | None:
    if _RULE_SET_ID.match(value):
        return None
    return "must be publisher/name in lowercase, e.g. gba-alliance/online-arbitration"


def _check_case_number_format(value: str) -> str | None:
    try:
        check_case_number_format(value)
    except CaseNumberFormatError as exc:
        return str(exc)
    return None


def _check_colour(value: str) -> str | None:
    return None if _COLOUR.match(value) else "must be a #rrggbb colour"


def _check_logo(value: str) -> str | None:
    path = PurePosixPath(value)
    if "\\" in value or path.is_absolute() or ".." in path.parts or value.startswith("~"):
        return "must be a file name relative to the tenant's directory (tenants/<slug>/)"
    if path.suffix.lower() not in LOGO_SUFFIXES:
        return f"must be an image file ({', '.join(LOGO_SUFFIXES)})"
    return None


def looks_like_key_material(value: str) -> bool:
    """Whether ``value`` holds a key or secret rather than a reference to one.

    A heuristic, tuned so that references (key ids, aliases, ARNs, resource
    paths, file paths, variable names) pass and pasted keys do not: PEM
    blocks, JWKs, hex of 24 bytes or more, and long base64 runs (padded, with
    ``+``, or one long stretch of random-looking mixed case).
    """
    if "-----BEGIN" in value or "PRIVATE KEY" in value.upper():
        return True
    if value.lstrip().startswith("{"):  # a JWK
        return True
    if any(len(run) >= 48 for run in _HEX_RUN.findall(value)):
        return True
    for run in _BASE64_RUN.findall(value):
        if "+" in run or "=" in run:
            return True
        upper = sum(ch.isupper() for ch in run)
        lower = sum(ch.islower() for ch in run)
        longest = max(len(segment) for segment in run.split("/"))
        # Random base64 is about half upper case; CamelCase names are mostly lower case.
        if upper >= 4 and lower >= 4 and 0.2 <= upper / (upper + lower) <= 0.8 and longest >= 24:
            return True
    return False


_MATERIAL = (
    "looks like key material; write a reference instead "
    "(generated, kms:<key id>, file:/path or env:NAME), never the key itself"
)


def check_key_ref(value: str) -> str | None:
    """The problem with ``value`` as a reference to a signing key, or None."""
    if looks_like_key_material(value):
        return _MATERIAL
    if value == GENERATED:
        return None
    scheme, colon, rest = value.partition(":")
    if not colon or scheme not in KEY_SCHEMES:
        return (
            f"{value!r} is not a key reference: write generated, kms:<key id>, "
            "file:/absolute/path or env:NAME"
        )
    return _check_ref_body(scheme, rest)


_REFERENCE_ONLY = "must be a reference (env:NAME or file:/absolute/path), never the secret itself"


def check_secret_ref(value: str) -> str | None:
    """The problem with ``value`` as a reference to a secret (env:NAME or file:/path)."""
    scheme, colon, rest = value.partition(":")
    if looks_like_key_material(value) or not colon or scheme not in ("env", "file"):
        return _REFERENCE_ONLY
    return _check_ref_body(scheme, rest)


def _check_ref_body(scheme: str, rest: str) -> str | None:
    if scheme == "env":
        if not _ENV_NAME.match(rest):
            return f"env:{rest}: the variable name must be uppercase letters, digits and '_'"
        return None
    if scheme == "file":
        path = PurePosixPath(rest)
        if not rest.startswith("/") or ".." in path.parts or rest.endswith("/"):
            return f"file:{rest}: must be an absolute file path, e.g. file:/etc/arbitral/key.pem"
        return None
    if not _KMS_ID.match(rest):
        return f"kms:{rest}: not a key id, alias or ARN"
    return None


def _check_issuer(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an https:// URL"
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        return "must be an https:// URL (http:// only for localhost and 127.0.0.1)"
    if parts.query or parts.fragment:
        return "must not have a query or a fragment (OpenID Connect Discovery §3)"
    if parts.username or parts.password:
        return "must not hold credentials"
    try:
        _ = parts.port
    except ValueError:
        return "has a port that is not a number"
    return None


def parse_tenant(document: Mapping[str, Any], *, source: str) -> TenantSpec:
    """Validate a parsed ``tenants/<slug>.toml``; raise :class:`InvalidTenantFiles` listing
    every problem of the file."""
    c = _Checker(source)
    if not isinstance(document, Mapping):
        raise InvalidTenantFiles([TenantFileError(source, "(file)", "must be a TOML table")])
    c.unknown(document, "", _TOP_LEVEL)

    slug = c.matching(document, "slug", _check_slug, max_length=63)
    stem = PurePosixPath(source.replace("\\", "/")).name.removesuffix(".toml")
    if slug is not None and slug != stem:
        c.error("slug", f"{slug!r} must equal the file name ({stem!r}); rename one of them")
        slug = None

    names_table = c.table(document, "names", ("zh", "en"))
    name_zh = c.string(names_table, "names.zh")
    name_en = c.string(names_table, "names.en")

    hosts = _hosts(c, document.get("hosts"))
    time_zone = c.matching(document, "time_zone", _check_time_zone, max_length=64)
    locale = c.matching(document, "locale", _check_locale, max_length=16)

    rule_table = c.table(document, "rule_set", ("id", "version"))
    rule_id = c.matching(rule_table, "rule_set.id", _check_rule_set_id, max_length=120)
    rule_version = _rule_set_version(c, rule_table)

    number_table = c.table(document, "case_number", ("format",))
    case_format = c.matching(number_table, "case_number.format", _check_case_number_format)

    branding_table = c.table(
        document, "branding", ("display_name", "primary_colour", "logo"), required=False
    )
    display_name = c.string(branding_table, "branding.display_name", required=False)
    colour = c.matching(branding_table, "branding.primary_colour", _check_colour, required=False)
    logo = c.matching(branding_table, "branding.logo", _check_logo, required=False)

    retention_table = c.table(document, "retention", ("years",))
    retention = _retention_years(c, retention_table)

    key_refs = _keys(c, document)
    oidc = _oidc(c, document)
    automatic_acceptance = _batches(c, document)

    if c.errors:
        raise InvalidTenantFiles(c.errors)
    if (
        slug is None
        or name_zh is None
        or name_en is None
        or hosts is None
        or time_zone is None
        or locale is None
        or rule_id is None
        or rule_version is None
        or case_format is None
        or retention is None
        or key_refs is None
    ):  # pragma: no cover - every None above was reported as an error
        raise AssertionError(f"{source}: a value was rejected without an error")
    return TenantSpec(
        slug=slug,
        names=Names(zh=name_zh, en=name_en),
        hosts=hosts,
        time_zone=time_zone,
        locale=locale,
        rule_set=RuleSetRef(id=rule_id, version=rule_version),
        case_number_format=case_format,
        branding=Branding(display_name=display_name or name_zh, primary_colour=colour, logo=logo),
        retention_years=retention,
        key_refs=MappingProxyType(key_refs),
        oidc=oidc,
        batch_automatic_acceptance=automatic_acceptance,
        source=source,
    )


def _hosts(c: _Checker, value: object) -> tuple[str, ...] | None:
    if value is None:
        c.error("hosts", 'missing (a list of host names, e.g. ["gz.arbitral.example"])')
        return None
    if not isinstance(value, list):
        c.error("hosts", f"must be a list of host names, not {_type_name(value)}")
        return None
    if not value:
        c.error("hosts", "must name at least one host")
        return None
    hosts: list[str] = []
    ok = True
    for index, host in enumerate(value):
        key = f"hosts[{index}]"
        if not isinstance(host, str):
            c.error(key, f"must be a string, not {_type_name(host)}")
            ok = False
            continue
        problem = check_host(host)
        if problem is not None:
            c.error(key, problem)
            ok = False
        elif host in hosts:
            c.error(key, f"{host!r} is listed twice")
            ok = False
        hosts.append(host)
    return tuple(hosts) if ok else None


def _rule_set_version(c: _Checker, table: Mapping[str, Any] | None) -> str | None:
    if table is None:
        return None
    value = table.get("version")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        c.error("rule_set.version", f'must be a string: write version = "{value}"')
        return None

    def check(version: str) -> str | None:
        # Rule sets are versioned MAJOR.MINOR (arbitral.rules.model.check_version).
        problem = check_version(version)
        return None if problem is None else f"{version!r}: {problem}"

    return c.matching(table, "rule_set.version", check, max_length=32)


def _retention_years(c: _Checker, table: Mapping[str, Any] | None) -> int | None:
    if table is None:
        return None
    value = table.get("years")
    if value is None:
        c.error("retention.years", "missing (how many years case files are kept, 1 to 100)")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        c.error("retention.years", f"must be an integer, not {_type_name(value)}")
        return None
    if not 1 <= value <= 100:
        c.error("retention.years", f"must be between 1 and 100, not {value}")
        return None
    return value


def _keys(c: _Checker, document: Mapping[str, Any]) -> dict[str, str] | None:
    table = c.table(document, "keys", KEY_PURPOSES, required=False)
    if "keys" in document and table is None:
        return None
    refs: dict[str, str] = {}
    ok = True
    for purpose in KEY_PURPOSES:
        raw = (table or {}).get(purpose)
        if raw is None:
            refs[purpose] = GENERATED
            continue
        ref = c.matching(table, f"keys.{purpose}", check_key_ref, max_length=500, secret=_MATERIAL)
        if ref is None:
            ok = False
        else:
            refs[purpose] = ref
    return refs if ok else None


def _oidc(c: _Checker, document: Mapping[str, Any]) -> OidcConfig | None:
    table = c.table(
        document, "oidc", ("issuer", "client_id", "client_secret_ref", "scopes"), required=False
    )
    if table is None:
        return None
    issuer = c.matching(table, "oidc.issuer", _check_issuer, max_length=500)
    client_id = c.string(table, "oidc.client_id")
    secret_ref = c.matching(
        table, "oidc.client_secret_ref", check_secret_ref, max_length=500, secret=_REFERENCE_ONLY
    )
    scopes: tuple[str, ...] | None = DEFAULT_SCOPES
    raw_scopes = table.get("scopes")
    if raw_scopes is not None:
        scopes = _scopes(c, raw_scopes)
    if issuer is None or client_id is None or secret_ref is None or scopes is None:
        return None
    return OidcConfig(
        issuer=issuer, client_id=client_id, client_secret_ref=secret_ref, scopes=scopes
    )


def _batches(c: _Checker, document: Mapping[str, Any]) -> bool:
    """``[batches] automatic_acceptance`` (a boolean, false when absent)."""
    table = c.table(document, "batches", ("automatic_acceptance",), required=False)
    if table is None:
        return False
    value = table.get("automatic_acceptance")
    if value is None:
        return False
    if not isinstance(value, bool):
        c.error(
            "batches.automatic_acceptance",
            f"must be a boolean (true or false), not {_type_name(value)}",
        )
        return False
    return value


def _scopes(c: _Checker, value: object) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        c.error("oidc.scopes", f"must be a list of strings, not {_type_name(value)}")
        return None
    scopes: list[str] = []
    ok = True
    for index, scope in enumerate(value):
        key = f"oidc.scopes[{index}]"
        if not isinstance(scope, str):
            c.error(key, f"must be a string, not {_type_name(scope)}")
            ok = False
        elif not _SCOPE.match(scope):
            c.error(key, f"{scope!r} is not a scope (no spaces, quotes or backslashes)")
            ok = False
        elif scope in scopes:
            c.error(key, f"{scope!r} is listed twice")
            ok = False
        else:
            scopes.append(scope)
    if ok and "openid" not in scopes:
        c.error("oidc.scopes", 'must include "openid"')
        ok = False
    return tuple(scopes) if ok else None


def validate_all(specs: Sequence[TenantSpec]) -> None:
    """Rules across files: each slug once, each host owned by one tenant.

    Raises :class:`InvalidTenantFiles`, blaming the later file of each clash.
    """
    errors: list[TenantFileError] = []
    slugs: dict[str, TenantSpec] = {}
    hosts: dict[str, TenantSpec] = {}
    for spec in specs:
        first = slugs.setdefault(spec.slug, spec)
        if first is not spec:
            errors.append(
                TenantFileError(
                    spec.source, "slug", f"{spec.slug!r} is also the slug of {first.source}"
                )
            )
            continue
        for index, host in enumerate(spec.hosts):
            owner = hosts.setdefault(host, spec)
            if owner is not spec:
                errors.append(
                    TenantFileError(
                        spec.source,
                        f"hosts[{index}]",
                        f"{host!r} is also a host of {owner.source} ({owner.slug})",
                    )
                )
    if errors:
        raise InvalidTenantFiles(errors)
