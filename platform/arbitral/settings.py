"""The one settings object, built from the environment once.

Nothing in the package reads the environment at import time: the CLI (or a
test) calls :meth:`Settings.from_env` once and passes the frozen result to
``create_app`` and to the worker. Every problem is reported as a
:class:`ConfigError` that names the variable and what is wrong with it.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

PREFIX = "ARBITRAL_"


class ConfigError(Exception):
    """A setting is missing, malformed or points at something unusable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


_SECRET_OPTIONS = ("password", "passwd", "secret", "token", "key", "credential")


def redact_url(url: str) -> str:
    """The URL with its password, and any secret-looking query option, as ``***``.

    Used wherever a URL reaches a log, a message or a response.
    """
    parts = urlsplit(url)
    if parts.password is not None:
        user, _, host = parts.netloc.rpartition("@")
        name = user.split(":", 1)[0]
        parts = parts._replace(netloc=f"{name}:***@{host}")
    if parts.query:
        query = [
            (k, "***" if any(word in k.lower() for word in _SECRET_OPTIONS) else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
        parts = parts._replace(query=urlencode(query, safe="*"))
    return parts.geturl()


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    """Where the relational database is and how to talk to it."""

    variable: str
    url: str
    dialect: Literal["sqlite", "postgres"]
    sqlite_path: Path | None = None
    dsn: str | None = None
    pool_min: int = 1
    pool_max: int = 10

    @property
    def display(self) -> str:
        return redact_url(self.url)


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """Which object store holds contracts, evidence and documents."""

    variable: str
    url: str
    kind: Literal["file", "s3"]
    root: Path | None = None
    bucket: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    key_prefix: str = ""
    access_key_id: str | None = None
    secret_access_key: str | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    part_size: int = 8 * 1024 * 1024
    checksum: Literal["crc32", "md5"] = "crc32"

    @property
    def display(self) -> str:
        return redact_url(self.url)


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Which message broker carries Dramatiq jobs."""

    variable: str
    url: str
    kind: Literal["inprocess", "redis", "amqp"]
    namespace: str = "arbitral"
    heartbeat_timeout_ms: int = 60_000
    maintenance_chance: int = 1_000

    @property
    def display(self) -> str:
        return redact_url(self.url)

    @property
    def client_url(self) -> str:
        """The URL for the broker client, without Arbitral's own query options."""
        parts = urlsplit(self.url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k not in _BROKER_OPTIONS]
        return parts._replace(query=urlencode(query)).geturl()


_BROKER_OPTIONS = {"namespace", "heartbeat_timeout_ms", "maintenance_chance"}


@dataclass(frozen=True, slots=True)
class PaymentConfig:
    """The payment provider that collects the fees (arbitral.payments.provider).

    Only references to the keys (``file:/absolute/path`` or ``env:NAME``), never the keys.
    """

    variable: str
    url: str
    kind: Literal["alipay"]
    gateway: str
    app_id: str
    app_private_key_ref: str
    alipay_public_key_ref: str

    @property
    def display(self) -> str:
        return redact_url(self.url)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """The SMTP server email goes through (arbitral.notify.smtp); the password by reference."""

    variable: str
    url: str
    host: str
    port: int
    sender: str
    tls: Literal["implicit", "required", "opportunistic", "off"]
    username: str | None = None
    password_ref: str | None = None
    timeout_s: float = 30.0

    @property
    def display(self) -> str:
        return redact_url(self.url)


@dataclass(frozen=True, slots=True)
class SmsSettings:
    """The SMS gateway (arbitral.notify.aliyun); the secret and report token by reference."""

    variable: str
    url: str
    kind: Literal["aliyun"]
    endpoint: str
    access_key_id: str
    access_key_secret_ref: str
    sign_name: str
    template_code: str
    template_param: str
    region: str
    report_token_ref: str

    @property
    def display(self) -> str:
        return redact_url(self.url)


LogFormat = Literal["json", "console"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the platform needs to know about its environment."""

    data_dir: Path
    database: DatabaseConfig
    migration_database: DatabaseConfig
    storage: StorageConfig
    broker: BrokerConfig
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    public_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    log_format: LogFormat = "console"
    secret_key: str | None = field(default=None, repr=False)
    key_encryption_key: bytes | None = field(default=None, repr=False)
    tenants_dir: Path = Path("tenants")
    rules_dir: Path = Path("rules")
    message_sender: str = "console"
    # The real channels ("channels" sender): email through SMTP, SMS through a gateway.
    smtp: SmtpSettings | None = None
    sms: SmsSettings | None = None
    templates_dir: Path = Path("templates")
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)
    worker_threads: int = 4
    relay_interval_s: float = 2.0
    # How often each web and worker process fires the case deadlines that came due (0: never).
    deadline_sweep_s: float = 30.0
    # The provider that collects the fees (None: fees are assessed, nothing is collected online).
    payment: PaymentConfig | None = None
    # An RFC 3161 timestamp authority for document signatures (None: PAdES B-B, no network).
    tsa_url: str | None = None
    # Development and tests only: webhooks may go to http://127.0.0.1 / localhost and to
    # private or loopback addresses (arbitral.webhooks refuses both otherwise: SSRF).
    insecure_webhooks: bool = False
    # Rows of a lender's batch written per transaction (each chunk is whole or absent, and
    # a killed worker resumes after the last one committed).
    batch_chunk_rows: int = 2000

    @property
    def embedded(self) -> bool:
        """True when every backend is the embedded default."""
        return (
            self.database.dialect == "sqlite"
            and self.storage.kind == "file"
            and self.broker.kind == "inprocess"
        )

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build the settings from ``environ`` (``os.environ`` when omitted)."""
        env = dict(os.environ if environ is None else environ)
        _reject_unknown(env)

        data_dir = Path(env.get(f"{PREFIX}DATA_DIR") or "var").expanduser().resolve()
        db_var = f"{PREFIX}DATABASE_URL"
        default_db = "sqlite://" + quote(str(data_dir / "arbitral.sqlite3"))
        database = parse_database_url(db_var, env.get(db_var) or default_db)
        mig_var = f"{PREFIX}MIGRATION_DATABASE_URL"
        migration_database = (
            parse_database_url(mig_var, env[mig_var]) if env.get(mig_var) else database
        )
        if _database_identity(migration_database) != _database_identity(database):
            raise ConfigError(
                mig_var,
                f"names {_database_identity(migration_database)} but {db_var} names "
                f"{_database_identity(database)}; both must name the same database",
            )
        st_var = f"{PREFIX}STORAGE_URL"
        storage = parse_storage_url(st_var, env.get(st_var) or file_url(data_dir / "objects"))
        br_var = f"{PREFIX}BROKER_URL"
        broker = parse_broker_url(br_var, env.get(br_var) or "inprocess://")

        host = env.get(f"{PREFIX}HTTP_HOST") or "127.0.0.1"
        port = _int(env, f"{PREFIX}HTTP_PORT", 8000, minimum=1, maximum=65535)
        public_url = env.get(f"{PREFIX}PUBLIC_URL") or f"http://{host}:{port}"
        if urlsplit(public_url).scheme not in {"http", "https"}:
            raise ConfigError(f"{PREFIX}PUBLIC_URL", f"must be an http(s) URL, got {public_url!r}")

        level = (env.get(f"{PREFIX}LOG_LEVEL") or "INFO").upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ConfigError(
                f"{PREFIX}LOG_LEVEL",
                f"unknown level {level!r} (expected DEBUG, INFO, WARNING, ERROR or CRITICAL)",
            )
        fmt = env.get(f"{PREFIX}LOG_FORMAT") or "console"
        if fmt not in {"json", "console"}:
            raise ConfigError(f"{PREFIX}LOG_FORMAT", f"unknown format {fmt!r} (json or console)")

        secret = env.get(f"{PREFIX}SECRET_KEY") or None
        if secret is not None and len(secret) < 32:
            raise ConfigError(f"{PREFIX}SECRET_KEY", "must be at least 32 characters long")
        kek = parse_key_encryption_key(
            f"{PREFIX}KEY_ENCRYPTION_KEY", env.get(f"{PREFIX}KEY_ENCRYPTION_KEY") or None
        )
        tenants_dir = Path(env.get(f"{PREFIX}TENANTS_DIR") or "tenants").expanduser().resolve()
        rules_dir = Path(env.get(f"{PREFIX}RULES_DIR") or "rules").expanduser().resolve()
        proxies_var = f"{PREFIX}TRUSTED_PROXIES"
        proxies = tuple(
            p.strip() for p in (env.get(proxies_var) or "127.0.0.1").split(",") if p.strip()
        )
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(
                    proxies_var, f"{proxy!r} is not an IP address or network"
                ) from None
        sender_var = f"{PREFIX}MESSAGE_SENDER"
        sender = env.get(sender_var) or ("console" if database.dialect == "sqlite" else "")
        if not sender:
            raise ConfigError(
                sender_var,
                "must be set when the database is PostgreSQL: 'console' writes messages, login "
                "codes included, to the log; 'channels' sends them through ARBITRAL_SMTP_URL "
                "and ARBITRAL_SMS_URL",
            )
        if sender not in ("console", "channels"):
            raise ConfigError(
                sender_var, f"unknown sender {sender!r} (expected: console or channels)"
            )
        smtp_var, sms_var = f"{PREFIX}SMTP_URL", f"{PREFIX}SMS_URL"
        smtp = parse_smtp_url(smtp_var, env[smtp_var]) if env.get(smtp_var) else None
        sms = parse_sms_url(sms_var, env[sms_var]) if env.get(sms_var) else None
        if sender == "channels" and smtp is None and sms is None:
            raise ConfigError(
                sender_var, f"'channels' needs {smtp_var}, {sms_var} or both to send through"
            )
        templates_dir = (
            Path(env.get(f"{PREFIX}TEMPLATES_DIR") or "templates").expanduser().resolve()
        )
        tsa_url = env.get(f"{PREFIX}TSA_URL") or None
        if tsa_url is not None and (
            urlsplit(tsa_url).scheme not in {"http", "https"} or not urlsplit(tsa_url).hostname
        ):
            raise ConfigError(
                f"{PREFIX}TSA_URL", f"must be the http(s) URL of an RFC 3161 TSA, got {tsa_url!r}"
            )

        return cls(
            data_dir=data_dir,
            database=database,
            migration_database=migration_database,
            storage=storage,
            broker=broker,
            http_host=host,
            http_port=port,
            public_url=public_url.rstrip("/"),
            log_level=level,
            log_format=fmt,  # type: ignore[arg-type]
            secret_key=secret,
            key_encryption_key=kek,
            tenants_dir=tenants_dir,
            rules_dir=rules_dir,
            message_sender=sender,
            smtp=smtp,
            sms=sms,
            templates_dir=templates_dir,
            trusted_proxies=proxies,
            worker_threads=_int(env, f"{PREFIX}WORKER_THREADS", 4, minimum=1, maximum=256),
            relay_interval_s=_float(env, f"{PREFIX}RELAY_INTERVAL", 2.0, minimum=0.05),
            deadline_sweep_s=_float(env, f"{PREFIX}DEADLINE_SWEEP_INTERVAL", 30.0, minimum=0.0),
            payment=parse_payment_url(
                f"{PREFIX}PAYMENT_URL", env.get(f"{PREFIX}PAYMENT_URL") or "none"
            ),
            tsa_url=tsa_url,
            insecure_webhooks=_bool(env, f"{PREFIX}INSECURE_WEBHOOKS"),
            batch_chunk_rows=_int(
                env, f"{PREFIX}BATCH_CHUNK_ROWS", 2000, minimum=1, maximum=100_000
            ),
        )


KNOWN_VARIABLES = frozenset(
    f"{PREFIX}{name}"
    for name in (
        "DATA_DIR",
        "DATABASE_URL",
        "MIGRATION_DATABASE_URL",
        "STORAGE_URL",
        "BROKER_URL",
        "HTTP_HOST",
        "HTTP_PORT",
        "PUBLIC_URL",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "SECRET_KEY",
        "KEY_ENCRYPTION_KEY",
        "TENANTS_DIR",
        "RULES_DIR",
        "MESSAGE_SENDER",
        "TRUSTED_PROXIES",
        "WORKER_THREADS",
        "RELAY_INTERVAL",
        "DEADLINE_SWEEP_INTERVAL",
        "PAYMENT_URL",
        "SMTP_URL",
        "SMS_URL",
        "TEMPLATES_DIR",
        "TSA_URL",
        "INSECURE_WEBHOOKS",
        "BATCH_CHUNK_ROWS",
    )
)


def _reject_unknown(env: Mapping[str, str]) -> None:
    for name in sorted(env):
        if not name.startswith(PREFIX) or name in KNOWN_VARIABLES:
            continue
        close = difflib.get_close_matches(name, sorted(KNOWN_VARIABLES), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(name, f"unknown setting{hint}")


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"must be an integer, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(name, f"must be between {minimum} and {maximum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in {"", "0", "false", "no", "off"}:
        return False
    if raw in {"1", "true", "yes", "on"}:
        return True
    raise ConfigError(name, f"must be 1 or 0 (true or false), got {raw!r}")


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(name, f"must be at least {minimum}, got {value}")
    return value


def _query(variable: str, raw: str, allowed: set[str]) -> dict[str, str]:
    pairs = parse_qsl(raw, keep_blank_values=True)
    out: dict[str, str] = {}
    for key, value in pairs:
        if key not in allowed:
            expected = ", ".join(sorted(allowed)) or "none"
            raise ConfigError(variable, f"unknown option {key!r} (expected: {expected})")
        out[key] = value
    return out


def _int_option(variable: str, options: Mapping[str, str], key: str, default: int) -> int:
    if key not in options:
        return default
    try:
        value = int(options[key])
    except ValueError:
        raise ConfigError(variable, f"option {key} must be an integer") from None
    if value < 0:
        raise ConfigError(variable, f"option {key} must not be negative")
    return value


def _database_identity(config: DatabaseConfig) -> str:
    if config.dialect == "sqlite":
        return f"sqlite:{config.sqlite_path}"
    # Hosts and ports may differ (a pooler for the app, the primary for migrations).
    return f"postgresql database {urlsplit(config.dsn or '').path.lstrip('/')}"


def parse_database_url(variable: str, url: str) -> DatabaseConfig:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        if parts.netloc:
            raise ConfigError(
                variable,
                "a SQLite URL has no host: write sqlite:///absolute/path.sqlite3 "
                "or sqlite:relative/path.sqlite3",
            )
        if not parts.path or parts.path.endswith("/"):
            raise ConfigError(variable, "a SQLite URL needs a file path")
        _query(variable, parts.query, set())
        return DatabaseConfig(
            variable=variable,
            url=url,
            dialect="sqlite",
            sqlite_path=Path(unquote(parts.path)).expanduser().resolve(),
        )
    if scheme in {"postgresql", "postgres"}:
        if not parts.hostname:
            raise ConfigError(variable, "a PostgreSQL URL needs a host")
        dbname = parts.path.lstrip("/")
        if not dbname:
            raise ConfigError(variable, "a PostgreSQL URL needs a database name after the host")
        try:
            _ = parts.port
        except ValueError:
            raise ConfigError(variable, "the port is not a number") from None
        options = parse_qsl(parts.query, keep_blank_values=True)
        ours = {k: v for k, v in options if k in {"pool_min", "pool_max"}}
        pool_min = _int_option(variable, ours, "pool_min", 1)
        pool_max = _int_option(variable, ours, "pool_max", 10)
        if pool_max < 1 or pool_min > pool_max:
            raise ConfigError(variable, "pool_min must be <= pool_max and pool_max >= 1")
        passthrough = [(k, v) for k, v in options if k not in ours]
        dsn = parts._replace(scheme="postgresql", query=urlencode(passthrough)).geturl()
        return DatabaseConfig(
            variable=variable,
            url=url,
            dialect="postgres",
            dsn=dsn,
            pool_min=pool_min,
            pool_max=pool_max,
        )
    raise ConfigError(
        variable,
        f"unknown URL scheme {parts.scheme + ':' if parts.scheme else '(none)'} "
        "(expected sqlite: or postgresql:)",
    )


def parse_storage_url(variable: str, url: str) -> StorageConfig:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in {"", "localhost"}:
            raise ConfigError(variable, "a file URL names a local directory: file:///absolute/path")
        if not parts.path:
            raise ConfigError(variable, "a file URL needs a directory path")
        _query(variable, parts.query, set())
        return StorageConfig(
            variable=variable,
            url=url,
            kind="file",
            root=Path(unquote(parts.path)).expanduser().resolve(),
        )
    if scheme == "s3":
        bucket = unquote(parts.netloc.rpartition("@")[2])
        if not bucket:
            raise ConfigError(variable, "an S3 URL names the bucket: s3://bucket?region=...")
        options = _query(
            variable,
            parts.query,
            {"endpoint_url", "region", "prefix", "addressing_style", "part_size_mb", "checksum"},
        )
        endpoint = options.get("endpoint_url") or None
        if endpoint is not None and urlsplit(endpoint).scheme not in {"http", "https"}:
            raise ConfigError(variable, f"endpoint_url must be an http(s) URL, got {endpoint!r}")
        style = options.get("addressing_style", "auto")
        if style not in {"auto", "path", "virtual"}:
            raise ConfigError(variable, "addressing_style must be auto, path or virtual")
        part_mb = _int_option(variable, options, "part_size_mb", 8)
        if not 5 <= part_mb <= 5 * 1024:
            raise ConfigError(variable, "part_size_mb must be between 5 and 5120 (S3 limits)")
        checksum = options.get("checksum", "crc32")
        if checksum not in {"crc32", "md5"}:
            raise ConfigError(variable, "checksum must be crc32 or md5")
        prefix = options.get("prefix", "").strip("/")
        return StorageConfig(
            variable=variable,
            url=url,
            kind="s3",
            bucket=bucket,
            endpoint_url=endpoint,
            region=options.get("region") or None,
            key_prefix=f"{prefix}/" if prefix else "",
            access_key_id=unquote(parts.username) if parts.username else None,
            secret_access_key=unquote(parts.password) if parts.password else None,
            addressing_style=style,  # type: ignore[arg-type]
            part_size=part_mb * 1024 * 1024,
            checksum=checksum,  # type: ignore[arg-type]
        )
    raise ConfigError(
        variable,
        f"unknown URL scheme {parts.scheme + ':' if parts.scheme else '(none)'} "
        "(expected file: or s3:)",
    )


_SECRET_REF = ("file:/", "env:")


def _secret_ref(variable: str, options: Mapping[str, str], name: str) -> str:
    value = options.get(name, "")
    if not value:
        raise ConfigError(variable, f"the option {name} is required")
    if not value.startswith(_SECRET_REF):
        raise ConfigError(
            variable, f"{name} must be a reference (env:NAME or file:/absolute/path), not a secret"
        )
    return value


def parse_smtp_url(variable: str, url: str) -> SmtpSettings:
    """``smtp[s]://[user@]host[:port]?from=ADDRESS[&password=REF][&starttls=…][&timeout=S]``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ConfigError(variable, f"unknown scheme {scheme!r} (expected smtp or smtps)")
    if not parts.hostname:
        raise ConfigError(variable, "names no SMTP host")
    if parts.password:
        raise ConfigError(variable, "give the password by reference (password=env:NAME)")
    options = _query(variable, parts.query, {"from", "password", "starttls", "timeout"})
    sender = options.get("from", "")
    if "@" not in sender:
        raise ConfigError(variable, "the option from (the sender's address) is required")
    tls: Literal["implicit", "required", "opportunistic", "off"]
    if scheme == "smtps":
        if "starttls" in options:
            raise ConfigError(variable, "smtps is TLS from the start; starttls does not apply")
        tls = "implicit"
    else:
        mode = options.get("starttls", "required")
        if mode not in ("required", "opportunistic", "off"):
            raise ConfigError(variable, "starttls must be required, opportunistic or off")
        tls = mode  # type: ignore[assignment]
    try:
        port = parts.port or (465 if scheme == "smtps" else 587)
    except ValueError:
        raise ConfigError(variable, "the port is not a number") from None
    timeout = _int_option(variable, options, "timeout", 30)
    return SmtpSettings(
        variable=variable,
        url=url,
        host=parts.hostname,
        port=port,
        sender=sender,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password_ref=_secret_ref(variable, options, "password") if "password" in options else None,
        timeout_s=float(timeout or 30),
    )


def parse_sms_url(variable: str, url: str) -> SmsSettings:
    """``aliyun[+http]://HOST[:PORT]?access_key_id=…&access_key_secret=REF&sign_name=…``
    ``&template_code=…&report_token=REF[&template_param=content][&region=cn-hangzhou]``.

    ``aliyun://dysmsapi.aliyuncs.com`` is Alibaba Cloud's SMS API over HTTPS;
    ``aliyun+http://`` plain HTTP, for the stand-in gateway on loopback only.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("aliyun", "aliyun+http"):
        raise ConfigError(variable, f"unknown SMS gateway {scheme!r} (expected aliyun)")
    if not parts.hostname:
        raise ConfigError(variable, "names no gateway host (aliyun://dysmsapi.aliyuncs.com)")
    allowed = {
        "access_key_id",
        "access_key_secret",
        "sign_name",
        "template_code",
        "template_param",
        "region",
        "report_token",
    }
    options = _query(variable, parts.query, allowed)
    for name in ("access_key_id", "sign_name", "template_code"):
        if not options.get(name):
            raise ConfigError(variable, f"the option {name} is required")
    http = "http" if scheme == "aliyun+http" else "https"
    return SmsSettings(
        variable=variable,
        url=url,
        kind="aliyun",
        endpoint=f"{http}://{parts.netloc}{parts.path or '/'}",
        access_key_id=options["access_key_id"],
        access_key_secret_ref=_secret_ref(variable, options, "access_key_secret"),
        sign_name=options["sign_name"],
        template_code=options["template_code"],
        template_param=options.get("template_param") or "content",
        region=options.get("region") or "cn-hangzhou",
        report_token_ref=_secret_ref(variable, options, "report_token"),
    )


_REF = ("file:/", "env:")


def parse_payment_url(variable: str, url: str) -> PaymentConfig | None:
    """``none``, or ``alipay://HOST/PATH?app_id=…&app_private_key=REF&alipay_public_key=REF``.

    ``alipay://`` calls the gateway over HTTPS; ``alipay+http://`` over plain HTTP, for
    the sandbox provider (``arbitral payments sandbox``) only. REF is ``file:/path`` or
    ``env:NAME``: the keys themselves never go into a setting.
    """
    if url.strip().lower() == "none":
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("alipay", "alipay+http"):
        raise ConfigError(
            variable, f"unknown payment provider {scheme!r} (expected none, alipay or alipay+http)"
        )
    if not parts.hostname:
        raise ConfigError(
            variable, "names no gateway host (alipay://openapi.alipay.com/gateway.do)"
        )
    options = dict(parse_qsl(parts.query))
    unknown = sorted(set(options) - {"app_id", "app_private_key", "alipay_public_key"})
    if unknown:
        raise ConfigError(variable, f"unknown option {unknown[0]!r}")
    for name in ("app_id", "app_private_key", "alipay_public_key"):
        if not options.get(name):
            raise ConfigError(variable, f"the option {name} is required")
    if not options["app_id"].isalnum():
        raise ConfigError(variable, "app_id must be letters and digits")
    for name in ("app_private_key", "alipay_public_key"):
        if not options[name].startswith(_REF):
            raise ConfigError(
                variable, f"{name} must be a reference (file:/absolute/path or env:NAME)"
            )
    http = "http" if scheme == "alipay+http" else "https"
    return PaymentConfig(
        variable=variable,
        url=url,
        kind="alipay",
        gateway=f"{http}://{parts.netloc}{parts.path or '/gateway.do'}",
        app_id=options["app_id"],
        app_private_key_ref=options["app_private_key"],
        alipay_public_key_ref=options["alipay_public_key"],
    )


def parse_broker_url(variable: str, url: str) -> BrokerConfig:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    options = {k: v for k, v in parse_qsl(parts.query) if k in _BROKER_OPTIONS}
    namespace = options.get("namespace", "arbitral")
    if not namespace.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(variable, "namespace may hold letters, digits, '-' and '_' only")
    common = {
        "variable": variable,
        "url": url,
        "namespace": namespace,
        "heartbeat_timeout_ms": _int_option(variable, options, "heartbeat_timeout_ms", 60_000),
        "maintenance_chance": _int_option(variable, options, "maintenance_chance", 1_000),
    }
    if scheme in {"inprocess", "memory"}:
        return BrokerConfig(kind="inprocess", **common)  # type: ignore[arg-type]
    try:
        _ = parts.port
    except ValueError:
        raise ConfigError(variable, "the port is not a number between 0 and 65535") from None
    if scheme in {"redis", "rediss"}:
        if not parts.hostname:
            raise ConfigError(variable, "a Redis URL needs a host: redis://127.0.0.1:6379/0")
        return BrokerConfig(kind="redis", **common)  # type: ignore[arg-type]
    if scheme in {"amqp", "amqps"}:
        if not parts.hostname:
            raise ConfigError(variable, "an AMQP URL needs a host: amqp://guest:guest@host:5672/")
        return BrokerConfig(kind="amqp", **common)  # type: ignore[arg-type]
    raise ConfigError(
        variable,
        f"unknown URL scheme {parts.scheme + ':' if parts.scheme else '(none)'} "
        "(expected inprocess:, redis: or amqp:)",
    )


def parse_key_encryption_key(variable: str, raw: str | None) -> bytes | None:
    """The 32-byte key that encrypts private keys at rest, given as base64 (or hex)."""
    if raw is None:
        return None
    value = raw.strip()
    decoded: bytes | None = None
    if len(value) == 64:
        try:
            decoded = bytes.fromhex(value)
        except ValueError:
            decoded = None
    if decoded is None:
        try:
            decoded = base64.b64decode(
                value + "=" * (-len(value) % 4),
                altchars=b"-_" if ("-" in value or "_" in value) else None,
                validate=True,
            )
        except (binascii.Error, ValueError):
            raise ConfigError(variable, "must be 32 bytes in base64 or hex") from None
    if len(decoded) != 32:
        raise ConfigError(variable, f"must be 32 bytes (256 bits), got {len(decoded)}")
    return decoded


def file_url(path: Path) -> str:
    """A ``file://`` URL for a local directory."""
    return "file://" + quote(str(path))
