"""One worker of `oms serve --workers N` (N > 1): uvicorn's supervisor spawns each worker as a
fresh interpreter and builds its app and HTTP protocol from the import strings below, so all a
worker needs travels in the environment: the settings (OMS_*), the MongoDB address the parent
started or was given (`WORKER_MONGODB_URI`) and PROMETHEUS_MULTIPROC_DIR, set by the parent before
any worker starts (app/metrics.py reads it at import)."""

from __future__ import annotations

import os

from starlette.applications import Starlette

from app import logs
from app.http_timeouts import timed_http_protocol
from app.routes import IMPORTS_PATH
from app.settings import Settings

WORKER_MONGODB_URI = "OMS_WORKER_MONGODB_URI"

_settings = Settings.from_env()

# `uvicorn.Config(http="app.worker_process:HttpProtocol")`: a class made at run time cannot be
# pickled to a spawned worker, so each worker makes its own from the same settings.
HttpProtocol = timed_http_protocol(
    header_timeout=_settings.header_timeout_seconds,
    body_timeout=_settings.body_timeout_seconds,
    streamed_prefixes=(IMPORTS_PATH,),
)


def create() -> Starlette:
    """The app factory each worker calls once (`uvicorn.Config(..., factory=True)`)."""
    from app.asgi import create_app
    from app.cli import _tune_garbage_collector

    logs.configure(_settings.log_level)
    app = create_app(_settings, mongodb_uri=os.environ[WORKER_MONGODB_URI])
    _tune_garbage_collector()
    return app
