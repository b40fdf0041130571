"""Environment → frozen settings. Read once at startup; everything else receives a Settings."""

from __future__ import annotations

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
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from exc


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


DEV_WEBHOOK_SECRET = "dev-carrier-webhook-secret"


def _pairs(env: Mapping[str, str], name: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in _list(env, name):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise SystemExit(f"{name} must look like ups=secret1,fedex=secret2")
        pairs.append((key.strip().lower(), value.strip()))
    return tuple(pairs)


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
    broadcast_url: str = "memory://"
    log_level: str = "INFO"
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    # Authentication
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_key: str | None = None
    allow_anonymous_admin: bool = True
    # Signs document URLs. None: a random key per process (URLs then work only on the instance that made them).
    signing_key: str | None = None
    # carrier code -> webhook HMAC secret. Outside production, carriers without one use DEV_WEBHOOK_SECRET.
    carrier_webhook_secrets: tuple[tuple[str, str], ...] = ()

    def webhook_secrets(self, carrier_codes: tuple[str, ...] = ("ups", "usps", "fedex")) -> dict[str, str]:
        configured = dict(self.carrier_webhook_secrets)
        if self.production:
            return configured
        return {code: configured.get(code, DEV_WEBHOOK_SECRET) for code in (*carrier_codes, *configured)}
    # Seconds between scheduler ticks (scheduled releases, backorder sweep); 0 turns it off.
    scheduler_interval_seconds: float = 5.0

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def embedded(self) -> bool:
        return not self.mongodb_uri

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        mode = env.get("OMS_ENV", "development").strip().lower() or "development"
        if mode not in {"development", "production", "test"}:
            raise SystemExit(f"OMS_ENV must be development, production or test, got {mode!r}")
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
            broadcast_url=env.get("OMS_BROADCAST_URL", "memory://"),
            log_level=env.get("OMS_LOG_LEVEL", "INFO").upper(),
            cors_origins=_list(env, "OMS_CORS_ORIGINS"),
            jwt_issuer=env.get("OMS_JWT_ISSUER") or None,
            jwt_audience=env.get("OMS_JWT_AUDIENCE") or None,
            jwt_algorithms=_list(env, "OMS_JWT_ALGORITHMS") or ("HS256",),
            jwt_key=env.get("OMS_JWT_KEY") or None,
            # The anonymous admin exists only for the local demo; production never has one.
            allow_anonymous_admin=(not production) and _bool(env, "OMS_ALLOW_ANONYMOUS_ADMIN", True),
            signing_key=env.get("OMS_SIGNING_KEY") or None,
            carrier_webhook_secrets=_pairs(env, "OMS_CARRIER_WEBHOOK_SECRETS"),
            scheduler_interval_seconds=_float(env, "OMS_SCHEDULER_INTERVAL", 5.0),
        )
