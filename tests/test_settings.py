"""Settings from the environment: typos are refused with the variable's name, production warns
about what is unsafe."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from asgi_lifespan import LifespanManager

from app.asgi import create_app, realtime_options
from app.settings import Settings


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("OMS_GRAPHIQL", "ture", "true, 1, yes, on, false, 0, no, off"),
        ("OMS_ALLOW_ANONYMOUS_ADMIN", "nope", "true, 1, yes, on, false, 0, no, off"),
        ("OMS_RELAY", "enabled", "true, 1, yes, on, false, 0, no, off"),
        ("OMS_LOG_LEVEL", "verbose", "DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("OMS_ENV", "prod", "development, production, test"),
        ("OMS_PORT", "abc", None),
        ("OMS_HEADER_TIMEOUT", "10s", None),
        ("OMS_BODY_TIMEOUT", "slow", None),
    ],
)
def test_a_value_that_is_not_understood_is_refused_with_the_variable_name(name: str, value: str, accepted: str | None) -> None:
    with pytest.raises(SystemExit) as refused:
        Settings.from_env({name: value})
    message = str(refused.value.code)
    assert name in message and repr(value) in message and "\n" not in message
    if accepted:
        assert accepted in message


def test_typos_are_refused_in_production_too_where_the_setting_is_forced() -> None:
    # Production forces GraphiQL and introspection off; a typo there still means a wrong config file.
    for name in ("OMS_GRAPHIQL", "OMS_INTROSPECTION", "OMS_HIDE_SUGGESTIONS", "OMS_ALLOW_ANONYMOUS_ADMIN"):
        with pytest.raises(SystemExit, match=name):
            Settings.from_env({"OMS_ENV": "production", name: "ture"})


def test_accepted_spellings_of_booleans_and_levels() -> None:
    on = Settings.from_env({"OMS_LEGACY_GRAPHQL_WS": " Yes ", "OMS_HTTP_GET": "0", "OMS_LOG_LEVEL": "warning"})
    assert on.legacy_graphql_ws and not on.http_get and on.log_level == "WARNING"
    defaults = Settings.from_env({"OMS_LEGACY_GRAPHQL_WS": "", "OMS_LOG_LEVEL": "", "OMS_ENV": ""})
    assert not defaults.legacy_graphql_ws and defaults.log_level == "INFO" and defaults.env == "development"
    assert Settings.from_env({"OMS_ENV": "test"}).env == "test"


def test_slow_client_deadlines_default_to_10_and_30_seconds_and_0_turns_them_off() -> None:
    defaults = Settings.from_env({})
    assert (defaults.header_timeout_seconds, defaults.body_timeout_seconds) == (10.0, 30.0)
    configured = Settings.from_env({"OMS_HEADER_TIMEOUT": "2.5", "OMS_BODY_TIMEOUT": "0"})
    assert (configured.header_timeout_seconds, configured.body_timeout_seconds) == (2.5, 0.0)


def test_the_subscriber_send_limit_reaches_the_realtime_options_and_is_never_negative() -> None:
    assert realtime_options(Settings.from_env({})).subscriber_send_limit_bytes == 1 << 20
    configured = Settings.from_env({"OMS_SUBSCRIBER_SEND_LIMIT": "65536"})
    assert realtime_options(configured).subscriber_send_limit_bytes == 65536
    with pytest.raises(SystemExit, match="OMS_SUBSCRIBER_SEND_LIMIT must be 0 or more"):
        Settings.from_env({"OMS_SUBSCRIBER_SEND_LIMIT": "-1"})


def test_production_lists_each_unsafe_setting_once() -> None:
    unsafe = Settings.from_env(
        {
            "OMS_ENV": "production",
            "OMS_WEBHOOK_SECRETS": "ups=s1",
            "OMS_CORS_ORIGINS": "*",
            "OMS_RATE_CAPACITY": "0",
            "OMS_SUBSCRIBER_SEND_LIMIT": "0",
        }
    ).production_warnings()
    assert len(unsafe) == 6
    carriers, signing, embedded, cors, rate, send_limit = unsafe
    assert "usps, fedex" in carriers and "ups" not in carriers.replace("usps", "")
    assert "OMS_SIGNING_KEY" in signing and "MONGODB_URI" in embedded and "OMS_CORS_ORIGINS" in cors
    assert "rate limiting is off" in rate and "OMS_SUBSCRIBER_SEND_LIMIT" in send_limit

    safe = Settings.from_env(
        {
            "OMS_ENV": "production",
            "OMS_WEBHOOK_SECRETS": "ups=u,usps=s,fedex=f",
            "OMS_SIGNING_KEY": "k" * 32,
            "MONGODB_URI": "mongodb://db.internal:27017/?replicaSet=rs0",
            "OMS_CORS_ORIGINS": "https://shop.example",
        }
    )
    assert safe.production_warnings() == ()
    assert Settings.from_env({"OMS_CORS_ORIGINS": "*"}).production_warnings() == ()  # development: the demo


@pytest.fixture
def oms_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.WARNING, logger="oms")
    yield caplog


@pytest.mark.usefixtures("mongo")  # drops the test's database afterwards
async def test_a_production_server_logs_one_warning_line_per_unsafe_setting(
    oms_log: pytest.LogCaptureFixture, mongodb_uri: str, database_name: str
) -> None:
    # Given production settings without carrier secrets or a signing key
    settings = Settings(
        env="production", mongodb_uri=mongodb_uri, database=database_name, scheduler_interval_seconds=0, relay_enabled=False
    )

    # When the app starts
    async with LifespanManager(create_app(settings), shutdown_timeout=30):
        pass

    # Then each unsafe setting is one WARNING line of the oms logger
    warnings = [r.getMessage() for r in oms_log.records if r.name == "oms" and r.levelno == logging.WARNING]
    assert warnings == list(settings.production_warnings())
    assert any("OMS_SIGNING_KEY" in w for w in warnings) and any("usps" in w for w in warnings)
    assert all("\n" not in w for w in warnings)
