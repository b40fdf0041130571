"""Environment → frozen settings. Read once at startup; everything else receives a Settings."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer; got {raw!r}") from exc


def _non_negative_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 0:
        raise SystemExit(f"{name} must be 0 or more; got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a number; got {raw!r}") from exc


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MODES = ("development", "production", "test")
RATE_LIMIT_STORAGES = ("mongodb", "redis", "memory")


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in _TRUE + _FALSE:
        # A typo (`ture`) must not quietly mean false: some of these switch security features.
        raise SystemExit(f"{name} must be one of {', '.join(_TRUE + _FALSE)}; got {raw!r}")
    return value in _TRUE


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...], *, upper: bool = False) -> str:
    raw = env.get(name, "")
    value = (raw.strip().upper() if upper else raw.strip().lower()) or default
    if value not in choices:
        raise SystemExit(f"{name} must be one of {', '.join(choices)}; got {raw!r}")
    return value


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


DEV_WEBHOOK_SECRET = "dev-carrier-webhook-secret"
# The carriers whose tracking webhooks the API accepts (POST /webhooks/carriers/<code>).
CARRIER_CODES = ("ups", "usps", "fedex")


@dataclass(frozen=True, slots=True)
class ApiLimits:
    """What one client may ask of the API (docs/SECURITY.md, "Limits"). Read per request from the
    context, so one schema serves every deployment."""

    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 4_000
    # Static cost of one operation (graphql_schema/cost.py); refused above this.
    max_cost: int = 50_000
    # Leaky bucket per client (principal subject, else IP): holds `rate_capacity` cost units and
    # drains `rate_per_second`; 0 turns rate limiting off.
    rate_capacity: int = 500_000
    rate_per_second: float = 100_000.0
    max_body_bytes: int = 256 * 1024
    max_string_length: int = 10_000
    max_list_length: int = 500
    max_subscriptions_per_connection: int = 20
    # Production hides "Did you mean ...?" hints, which map the schema for a caller without introspection.
    hide_suggestions: bool = False
    introspection: bool = True
    # Units of a client's bucket one process takes from the shared store at once and spends without
    # a round trip (app/services/rate_limits.py); 0: 1% of rate_capacity.
    rate_lease_units: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, production: bool) -> ApiLimits:
        return cls(
            max_depth=_int(env, "OMS_MAX_DEPTH", 12),
            max_aliases=_int(env, "OMS_MAX_ALIASES", 30),
            max_tokens=_int(env, "OMS_MAX_TOKENS", 4_000),
            max_cost=_int(env, "OMS_MAX_COST", 50_000),
            rate_capacity=_int(env, "OMS_RATE_CAPACITY", 500_000),
            rate_per_second=_float(env, "OMS_RATE_PER_SECOND", 100_000.0),
            max_body_bytes=_int(env, "OMS_MAX_BODY_BYTES", 256 * 1024),
            max_string_length=_int(env, "OMS_MAX_STRING_LENGTH", 10_000),
            max_list_length=_int(env, "OMS_MAX_LIST_LENGTH", 500),
            max_subscriptions_per_connection=_int(env, "OMS_MAX_SUBSCRIPTIONS_PER_CONNECTION", 20),
            # Parsed in production too, so a typo fails everywhere; Settings then forces them.
            hide_suggestions=_bool(env, "OMS_HIDE_SUGGESTIONS", False) or production,
            introspection=_bool(env, "OMS_INTROSPECTION", True) and not production,
            rate_lease_units=_non_negative_int(env, "OMS_RATE_LEASE_UNITS", 0),
        )


@dataclass(frozen=True, slots=True)
class Settings:
    env: str = "development"
    mongodb_uri: str | None = None
    database: str = "oms"
    data_dir: Path = Path(".oms")
    mongod_binary: str | None = None
    mongod_port: int = 0
    host: str = "127.0.0.1"
    port: int = 8000
    # Slow clients (app/http_timeouts.py): a request's headers, then its body, must arrive within
    # these many seconds, else the connection is closed; 0 turns one off.
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    # Every HTTP request's database work must end within this many seconds, else the request
    # answers SERVICE_UNAVAILABLE (503 + Retry-After): a lost or frozen database is reported, not waited out.
    db_timeout_seconds: float = 5.0
    broadcast_url: str = "memory://"
    log_level: str = "INFO"
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    # Authentication
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_key: str | None = None
    # The identity provider's key set (instead of jwt_key): app/services/jwks.py.
    jwt_jwks_url: str | None = None
    jwt_jwks_refresh_seconds: float = 30.0
    jwt_jwks_max_age_seconds: float = 3600.0
    allow_anonymous_admin: bool = True
    # Real time (docs/ARCHITECTURE.md, "Event flow")
    event_retention_days: int = 30
    subscriber_queue_size: int = 1_000
    # Unsent bytes a WebSocket connection may hold before its subscriptions wait (subscriptions/backlog.py).
    subscriber_send_limit_bytes: int = 1 << 20
    relay_enabled: bool = True
    relay_lease_seconds: float = 2.0  # app/services/sequencer.py LEASE_SECONDS
    dashboard_interval_seconds: float = 5.0
    # How often each process checks the log for events its broadcaster missed (a safety net).
    hub_tail_check_seconds: float = 5.0
    ws_init_timeout_seconds: float = 10.0
    ws_heartbeat_seconds: float = 15.0
    # Signs document URLs. None: a random key per process (URLs then work only on the instance that made them).
    signing_key: str | None = None
    # Seconds between scheduler ticks (scheduled releases, backorder sweep); 0 turns it off.
    scheduler_interval_seconds: float = 5.0
    # Security (docs/SECURITY.md)
    jwt_claim_prefix: str = "oms_"
    jwt_leeway_seconds: int = 30
    api_key_cache_seconds: float = 10.0
    limits: ApiLimits = field(default_factory=ApiLimits)
    graphiql: bool = True
    http_get: bool = True
    legacy_graphql_ws: bool = False
    # Webhook signing secrets per source (e.g. a carrier): several during a rotation.
    webhook_secrets: tuple[tuple[str, tuple[str, ...]], ...] = ()
    webhook_tolerance_seconds: int = 300
    # Where client budgets live (app/services/rate_limits.py): shared by every instance in MongoDB
    # or Redis, or per process in memory. Redis: OMS_RATE_LIMIT_REDIS_URL, else a redis:// broadcast URL.
    rate_limit_storage: str = "mongodb"
    rate_limit_redis_url: str | None = None
    # `oms serve` worker processes (OMS_WORKERS); None: one per core in production, else 1.
    workers: int | None = None
    # Operations already parsed and validated skip Strawberry's per-request machinery
    # (graphql_schema/fast_path.py); off: every operation takes the standard path.
    graphql_fast_path: bool = True
    # Most one appeasement refund may give back, in minor units, per role (app/domain/refunds.py).
    appeasement_limit_csr_cents: int = 5_000
    appeasement_limit_admin_cents: int = 50_000
    # The body cap of bulk import uploads (POST /imports/{kind}), streamed into the importer; every
    # other request keeps OMS_MAX_BODY_BYTES.
    import_max_bytes: int = 1 << 30
    # Outbound webhooks (app/domain/webhooks.py WebhookOptions): tries before DEAD, backoff, the
    # per-request deadline, parallel requests per endpoint; private targets (SSRF) default to allowed
    # outside production only; `webhook_delivery` off keeps this process out of the worker's election.
    webhook_delivery: bool = True
    webhook_max_attempts: int = 8
    webhook_backoff_base_seconds: float = 1.0
    webhook_backoff_max_seconds: float = 300.0
    webhook_timeout_seconds: float = 10.0
    webhook_concurrency: int = 4
    webhook_allow_private_targets: bool | None = None

    def __post_init__(self) -> None:
        # Enforced here, whichever way Settings was built: production never has an anonymous admin,
        # GraphiQL, GET, introspection or field suggestions, and only the embedded demo database may
        # have an anonymous admin.
        if self.allow_anonymous_admin and (self.production or not self.embedded):
            object.__setattr__(self, "allow_anonymous_admin", False)
        if self.production:
            object.__setattr__(self, "graphiql", False)
            object.__setattr__(self, "http_get", False)
            object.__setattr__(
                self, "limits", dataclasses.replace(self.limits, introspection=False, hide_suggestions=True)
            )

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def embedded(self) -> bool:
        return not self.mongodb_uri

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        mode = _choice(env, "OMS_ENV", "development", MODES)
        production = mode == "production"
        data_dir = Path(env.get("OMS_DATA_DIR", ".oms"))
        return cls(
            env=mode,
            mongodb_uri=env.get("MONGODB_URI") or None,
            database=env.get("OMS_DB_NAME", "oms"),
            data_dir=data_dir,
            mongod_binary=env.get("OMS_MONGOD") or None,
            mongod_port=_int(env, "OMS_MONGOD_PORT", 0),
            host=env.get("OMS_HOST", "127.0.0.1"),
            port=_int(env, "OMS_PORT", 8000),
            header_timeout_seconds=_float(env, "OMS_HEADER_TIMEOUT", 10.0),
            body_timeout_seconds=_float(env, "OMS_BODY_TIMEOUT", 30.0),
            db_timeout_seconds=_float(env, "OMS_DB_TIMEOUT", 5.0),
            broadcast_url=env.get("OMS_BROADCAST_URL", "memory://"),
            log_level=_choice(env, "OMS_LOG_LEVEL", "INFO", LOG_LEVELS, upper=True),
            cors_origins=_list(env, "OMS_CORS_ORIGINS"),
            jwt_issuer=env.get("OMS_JWT_ISSUER") or None,
            jwt_audience=env.get("OMS_JWT_AUDIENCE") or None,
            # A JWKS holds public keys: RS256 unless told otherwise; a shared secret means HS256.
            jwt_algorithms=_list(env, "OMS_JWT_ALGORITHMS") or (("RS256",) if env.get("OMS_JWT_JWKS_URL") else ("HS256",)),
            jwt_key=_jwt_key(env),
            jwt_jwks_url=env.get("OMS_JWT_JWKS_URL") or None,
            jwt_jwks_refresh_seconds=_float(env, "OMS_JWT_JWKS_REFRESH_SECONDS", 30.0),
            jwt_jwks_max_age_seconds=_float(env, "OMS_JWT_JWKS_MAX_AGE_SECONDS", 3600.0),
            # The anonymous admin exists only for the local demo on the embedded database;
            # production never has one, and neither does a deployment on a real MongoDB.
            allow_anonymous_admin=(
                _bool(env, "OMS_ALLOW_ANONYMOUS_ADMIN", True) and not production and not env.get("MONGODB_URI")
            ),
            jwt_claim_prefix=env.get("OMS_JWT_CLAIM_PREFIX", "oms_"),
            jwt_leeway_seconds=_int(env, "OMS_JWT_LEEWAY_SECONDS", 30),
            api_key_cache_seconds=_float(env, "OMS_API_KEY_CACHE_SECONDS", 10.0),
            limits=ApiLimits.from_env(env, production=production),
            graphiql=_bool(env, "OMS_GRAPHIQL", True) and not production,
            http_get=_bool(env, "OMS_HTTP_GET", True),
            legacy_graphql_ws=_bool(env, "OMS_LEGACY_GRAPHQL_WS", False),
            webhook_secrets=_webhook_secrets(env.get("OMS_WEBHOOK_SECRETS", "")),
            webhook_tolerance_seconds=_int(env, "OMS_WEBHOOK_TOLERANCE_SECONDS", 300),
            import_max_bytes=_non_negative_int(env, "OMS_IMPORT_MAX_BYTES", 1 << 30),
            webhook_delivery=_bool(env, "OMS_WEBHOOK_DELIVERY", True),
            webhook_max_attempts=max(1, _int(env, "OMS_WEBHOOK_MAX_ATTEMPTS", 8)),
            webhook_backoff_base_seconds=_float(env, "OMS_WEBHOOK_BACKOFF_BASE", 1.0),
            webhook_backoff_max_seconds=_float(env, "OMS_WEBHOOK_BACKOFF_MAX", 300.0),
            webhook_timeout_seconds=_float(env, "OMS_WEBHOOK_TIMEOUT", 10.0),
            webhook_concurrency=max(1, _int(env, "OMS_WEBHOOK_CONCURRENCY", 4)),
            webhook_allow_private_targets=(
                _bool(env, "OMS_WEBHOOK_ALLOW_PRIVATE", False) if env.get("OMS_WEBHOOK_ALLOW_PRIVATE", "").strip() else None
            ),
            event_retention_days=_int(env, "OMS_EVENT_RETENTION_DAYS", 30),
            subscriber_queue_size=_int(env, "OMS_SUBSCRIBER_QUEUE", 1_000),
            subscriber_send_limit_bytes=_non_negative_int(env, "OMS_SUBSCRIBER_SEND_LIMIT", 1 << 20),
            relay_enabled=_bool(env, "OMS_RELAY", True),
            relay_lease_seconds=_float(env, "OMS_RELAY_LEASE_SECONDS", 2.0),
            dashboard_interval_seconds=_float(env, "OMS_DASHBOARD_INTERVAL", 5.0),
            hub_tail_check_seconds=_float(env, "OMS_HUB_TAIL_CHECK", 5.0),
            ws_init_timeout_seconds=_float(env, "OMS_WS_INIT_TIMEOUT", 10.0),
            ws_heartbeat_seconds=_float(env, "OMS_WS_HEARTBEAT", 15.0),
            signing_key=env.get("OMS_SIGNING_KEY") or None,
            scheduler_interval_seconds=_float(env, "OMS_SCHEDULER_INTERVAL", 5.0),
            appeasement_limit_csr_cents=_int(env, "OMS_APPEASEMENT_LIMIT_CSR_CENTS", 5_000),
            appeasement_limit_admin_cents=_int(env, "OMS_APPEASEMENT_LIMIT_ADMIN_CENTS", 50_000),
            rate_limit_storage=_choice(env, "OMS_RATE_LIMIT_STORAGE", "mongodb", RATE_LIMIT_STORAGES),
            rate_limit_redis_url=_rate_limit_redis_url(env),
            workers=_int(env, "OMS_WORKERS", 0) or None,
            graphql_fast_path=_bool(env, "OMS_GRAPHQL_FAST_PATH", True),
        )

    @property
    def allow_private_webhook_targets(self) -> bool:
        """OMS_WEBHOOK_ALLOW_PRIVATE when set; otherwise only outside production."""
        if self.webhook_allow_private_targets is not None:
            return self.webhook_allow_private_targets
        return not self.production

    def webhook_secrets_for(self, source: str) -> tuple[str, ...]:
        return next((secrets for name, secrets in self.webhook_secrets if name == source), ())

    def production_warnings(self) -> tuple[str, ...]:
        """What is unsafe in this production configuration, one line each; logged at start-up."""
        if not self.production:
            return ()
        warnings: list[str] = []
        unsigned = [code for code in CARRIER_CODES if not self.webhook_secrets_for(code)]
        if unsigned:
            warnings.append(
                f"OMS_WEBHOOK_SECRETS has no secret for {', '.join(unsigned)}: their carrier tracking webhooks are refused"
            )
        if not self.signing_key:
            warnings.append(
                "OMS_SIGNING_KEY is not set: document URLs are signed with a random key per process, "
                "so they fail on other instances and after a restart"
            )
        if self.embedded:
            warnings.append(
                f"MONGODB_URI is not set: production data is in the embedded single-node mongod in {self.data_dir} "
                "(no redundancy, no backups)"
            )
        if self.jwt_jwks_url and not self.jwt_jwks_url.startswith("https://"):
            warnings.append("OMS_JWT_JWKS_URL is not https: whoever sits on the path can hand out signing keys")
        if "*" in self.cors_origins:
            warnings.append("OMS_CORS_ORIGINS is *: any web page may call the API from its visitors' browsers")
        if self.limits.rate_capacity <= 0 or self.limits.rate_per_second <= 0:
            warnings.append("rate limiting is off (OMS_RATE_CAPACITY or OMS_RATE_PER_SECOND is 0)")
        if self.webhook_allow_private_targets:
            warnings.append("OMS_WEBHOOK_ALLOW_PRIVATE is on: outbound webhooks may target loopback and private addresses")
        if self.subscriber_send_limit_bytes <= 0:
            warnings.append("OMS_SUBSCRIBER_SEND_LIMIT is 0: a client that stops reading is buffered for without bound")
        return tuple(warnings)

    def carrier_webhook_secrets(self, carrier_codes: tuple[str, ...] = CARRIER_CODES) -> dict[str, tuple[str, ...]]:
        """Per carrier code (the webhook source). Outside production a carrier without a configured
        secret uses DEV_WEBHOOK_SECRET, so the demo and tests can sign; production has only real ones."""
        configured = {code: self.webhook_secrets_for(code) for code in carrier_codes}
        if not self.production:
            configured = {code: secrets or (DEV_WEBHOOK_SECRET,) for code, secrets in configured.items()}
        return {code: secrets for code, secrets in configured.items() if secrets}


def _rate_limit_redis_url(env: Mapping[str, str]) -> str | None:
    url = env.get("OMS_RATE_LIMIT_REDIS_URL") or None
    broadcast = env.get("OMS_BROADCAST_URL", "")
    if url is None and broadcast.startswith(("redis://", "rediss://")):
        url = broadcast
    if env.get("OMS_RATE_LIMIT_STORAGE", "").strip().lower() == "redis" and not url:
        raise SystemExit("OMS_RATE_LIMIT_STORAGE=redis needs OMS_RATE_LIMIT_REDIS_URL (or a redis:// OMS_BROADCAST_URL)")
    return url


def _jwt_key(env: Mapping[str, str]) -> str | None:
    """OMS_JWT_KEY (an HS* secret or a PEM public key) or OMS_JWT_KEY_FILE (a PEM file)."""
    path = env.get("OMS_JWT_KEY_FILE")
    if path:
        try:
            return Path(path).read_text()
        except OSError as exc:
            raise SystemExit(f"OMS_JWT_KEY_FILE cannot be read: {exc}") from exc
    return env.get("OMS_JWT_KEY") or None


def _webhook_secrets(raw: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`ups=s1 s2,fedex=s3`: per source, space-separated secrets (old and new during a rotation)."""
    parsed: list[tuple[str, tuple[str, ...]]] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        source, sep, secrets = item.partition("=")
        if not sep or not source.strip() or not secrets.split():
            raise SystemExit("OMS_WEBHOOK_SECRETS must look like `source=secret [secret2],other=secret`")
        parsed.append((source.strip(), tuple(secrets.split())))
    return tuple(parsed)
