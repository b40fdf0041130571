"""docs/OPERATIONS.md keeps up with the code: every setting app/settings.py reads from the
environment, and every metric app/metrics.py registers, is documented there."""

from __future__ import annotations

import re
from pathlib import Path

import app.asgi  # noqa: F401 - every module that may register a metric
from app import metrics

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = (ROOT / "docs" / "OPERATIONS.md").read_text()


def test_every_setting_is_documented() -> None:
    source = (ROOT / "app" / "settings.py").read_text()
    names = set(re.findall(r'"((?:OMS|MONGODB|OTEL|PROMETHEUS)_[A-Z0-9_]+)"', source))
    assert len(names) > 40  # the pattern still finds them
    missing = sorted(name for name in names if f"`{name}`" not in OPERATIONS)
    assert missing == [], f"settings missing from docs/OPERATIONS.md: {missing}"


def test_every_metric_is_documented() -> None:
    names = metrics.registered_names()
    assert "oms_graphql_operations_total" in names and "oms_gc_pause_seconds" in names
    missing = sorted(name for name in names if f"`{name}`" not in OPERATIONS)
    assert missing == [], f"metrics missing from docs/OPERATIONS.md: {missing}"


def test_metric_names_follow_prometheus_conventions() -> None:
    for name in metrics.registered_names():
        assert re.fullmatch(r"oms_[a-z0-9_]+", name), name
        assert not name.endswith("_total") or name.count("_total") == 1, name
        assert not re.search(r"_(ms|milliseconds|kb|mb|count)$", name), f"{name}: use base units"


def test_the_placeholders_for_budgets_and_identity_providers_are_there() -> None:
    assert "## Rate limits and budgets" in OPERATIONS and "## Identity providers (JWKS)" in OPERATIONS
