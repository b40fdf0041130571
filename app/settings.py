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
    # Real time (docs/ARCHITECTURE.md, "Event flow")
    event_retention_days: int = 30
    subscriber_queue_size: int = 1_000
    relay_enabled: bool = True
    relay_lease_seconds: float = 10.0
    dashboard_interval_seconds: float = 5.0
    # How often each process checks the log for events its broadcaster missed (a safety net).
    hub_tail_check_seconds: float = 5.0
    ws_init_timeout_seconds: float = 10.0
    ws_heartbeat_seconds: float = 15.0
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
            event_retention_days=_int(env, "OMS_EVENT_RETENTION_DAYS", 30),
            subscriber_queue_size=_int(env, "OMS_SUBSCRIBER_QUEUE", 1_000),
            relay_enabled=_bool(env, "OMS_RELAY", True),
            relay_lease_seconds=_float(env, "OMS_RELAY_LEASE_SECONDS", 10.0),
            dashboard_interval_seconds=_float(env, "OMS_DASHBOARD_INTERVAL", 5.0),
            hub_tail_check_seconds=_float(env, "OMS_HUB_TAIL_CHECK", 5.0),
            ws_init_timeout_seconds=_float(env, "OMS_WS_INIT_TIMEOUT", 10.0),
            ws_heartbeat_seconds=_float(env, "OMS_WS_HEARTBEAT", 15.0),
            scheduler_interval_seconds=_float(env, "OMS_SCHEDULER_INTERVAL", 5.0),
        )
