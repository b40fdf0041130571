"""Authentication: API keys (CLI, hashing, revocation window), JWT bearer tokens, WebSocket
connection_init, and the development-only anonymous admin."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from typing import Any

import jwt
import pytest
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from strawberry.relay import to_base64

from app.cli import build_parser, cmd_apikey
from app.domain.errors import InvalidInput, Unauthenticated
from app.domain.principals import Role
from app.repositories.database import Mongo
from app.services.container import Services
from app.services.jwt_tokens import JwtConfig, JwtVerifier
from app.settings import Settings
from tests.factories import BOSTON, CAMBRIDGE, World, channel, customer, location
from tests.realtime import GraphQLWs, serve
from tests.security_helpers import client_for, codes, post, refused

SECRET = "test-jwt-secret-that-is-long-enough-0123456789"
CUSTOMERS = "{ customers(first: 1) { edges { node { id } } } }"


def token(claims: dict[str, Any], *, key: Any = SECRET, algorithm: str = "HS256", **headers: Any) -> str:
    now = int(time.time())
    body = {"sub": "alice", "oms_role": "CSR", "iss": "https://idp.test", "aud": "oms", "iat": now, "exp": now + 300}
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=algorithm, headers=headers or None)


def jwt_settings(settings: Settings, **changes: Any) -> dict[str, Any]:
    return {"jwt_key": SECRET, "jwt_issuer": "https://idp.test", "jwt_audience": "oms", **changes}


async def test_api_keys_are_shown_once_stored_hashed_listed_and_revoked_through_the_cli(
    settings: Settings, mongo: Mongo, capsys: pytest.CaptureFixture[str]
) -> None:
    run = lambda *argv: cmd_apikey(settings, build_parser().parse_args(["apikey", *argv]))  # noqa: E731
    await World(mongo).add_locations(location("ST-1", BOSTON), location("ST-2", CAMBRIDGE))
    await asyncio.to_thread(run, "create", "--name", "bos-store", "--role", "STORE_STAFF", "--scope", "locations=ST-1,ST-2")
    created = capsys.readouterr().out.splitlines()
    secret_token = created[-1]
    key_id = secret_token.split("_")[1]
    stored = await mongo.db["api_keys"].find_one({"_id": key_id})
    assert stored is not None and secret_token.split("_", 2)[2] not in json.dumps(stored, default=str)
    assert stored["location_ids"] == ["ST-1", "ST-2"] and stored["role"] == "STORE_STAFF"

    await asyncio.to_thread(run, "list")
    listing = capsys.readouterr().out
    assert key_id in listing and "bos-store" in listing and "ST-1,ST-2" in listing
    assert secret_token.split("_", 2)[2] not in listing

    with pytest.raises(SystemExit, match="locations"):
        await asyncio.to_thread(run, "create", "--name", "no-scope", "--role", "WAREHOUSE")
    await asyncio.to_thread(run, "revoke", key_id)
    assert "revoked" in capsys.readouterr().out
    assert (await mongo.db["api_keys"].find_one({"_id": key_id}))["revoked_at"] is not None


async def test_api_key_scopes_must_exist_and_may_be_given_as_codes_ids_or_global_ids(services: Services, mongo: Mongo) -> None:
    # Given two stores, a channel and a customer
    world = World(mongo)
    ada = customer()
    await world.add_locations(location("ST-1", BOSTON), location("ST-2", CAMBRIDGE))
    await world.add_channels(channel("amazon"))
    await world.add_customers(ada)
    issue = services.auth.issue_api_key

    # When keys are issued with the API's global ids or the plain codes and ids
    staff, _ = await issue(name="bos", role=Role.STORE_STAFF, locations=[to_base64("Location", "ST-1"), "ST-2", "ST-1"])
    amazon, _ = await issue(name="amz", role=Role.CHANNEL, channel=to_base64("Channel", "amazon"))
    shopper, _ = await issue(name="ada", role=Role.CUSTOMER, customer=to_base64("Customer", ada.id))
    plain, _ = await issue(name="ada-2", role=Role.CUSTOMER, customer=ada.id)

    # Then each key carries the stored ids
    assert staff.location_ids == {"ST-1", "ST-2"}
    assert (amazon.channel_id, shopper.customer_id, plain.customer_id) == ("amazon", ada.id, ada.id)
    stored = await mongo.db["api_keys"].count_documents({})
    assert stored == 4


@pytest.mark.parametrize(
    ("role", "scope", "refusals"),
    [
        (Role.STORE_STAFF, {"locations": ["ST-1", "ST-9", "ST-8"]}, {("locations", "NOT_FOUND", "no such locations: ST-9, ST-8")}),
        (Role.WAREHOUSE, {"locations": [to_base64("Customer", "c-1")]},
         {("locations", "NOT_FOUND", f"no such location: {to_base64('Customer', 'c-1')} (Customer c-1)")}),
        (Role.CHANNEL, {"channel": "amzon"}, {("channel", "NOT_FOUND", "no such channel: amzon")}),
        (Role.CUSTOMER, {"customer": to_base64("Customer", "0" * 24)},
         {("customer", "NOT_FOUND", f"no such customer: {to_base64('Customer', '0' * 24)} (Customer {'0' * 24})")}),
        (Role.STORE_STAFF, {"locations": ["ST-1"], "channel": "amazon"},
         {("channel", "INVALID_INPUT", "does not apply: STORE_STAFF keys are scoped by locations only")}),
        (Role.ADMIN, {"customer": "c-1", "locations": ["ST-1"]},
         {("customer", "INVALID_INPUT", "does not apply: ADMIN keys are not scoped"),
          ("locations", "INVALID_INPUT", "does not apply: ADMIN keys are not scoped")}),
        (Role.CHANNEL, {"customer": "c-1"},
         {("customer", "INVALID_INPUT", "does not apply: CHANNEL keys are scoped by channel only")}),
        (Role.CHANNEL, {}, {("channel", "INVALID_INPUT", "CHANNEL needs a channel (CHANNEL keys are scoped)")}),
    ],
)
async def test_unknown_or_inapplicable_api_key_scopes_are_refused_and_nothing_is_created(
    services: Services, mongo: Mongo, role: Role, scope: dict[str, Any], refusals: set[tuple[str, str, str]]
) -> None:
    world = World(mongo)
    await world.add_locations(location("ST-1", BOSTON))
    await world.add_channels(channel("amazon"))

    with pytest.raises(InvalidInput) as refused:
        await services.auth.issue_api_key(name="x", role=role, **scope)

    assert {(".".join(i.field), i.code.value, i.message) for i in refused.value.issues} == refusals
    assert await mongo.db["api_keys"].count_documents({}) == 0


async def test_the_cli_names_unknown_scopes_and_creates_nothing(settings: Settings, mongo: Mongo) -> None:
    run = lambda *argv: cmd_apikey(settings, build_parser().parse_args(["apikey", "create", "--name", "x", *argv]))  # noqa: E731
    await World(mongo).add_locations(location("ST-1", BOSTON))

    with pytest.raises(SystemExit) as unknown:
        await asyncio.to_thread(run, "--role", "STORE_STAFF", "--scope", "locations=ST-1,ST-404")
    with pytest.raises(SystemExit) as misspelt:
        await asyncio.to_thread(run, "--role", "STORE_STAFF", "--scope", "location=ST-1")
    with pytest.raises(SystemExit) as twice:
        await asyncio.to_thread(run, "--role", "CHANNEL", "--scope", "channel=web", "--scope", "channel=app")

    assert str(unknown.value) == "no API key created: locations: no such location: ST-404"
    assert str(misspelt.value) == "--scope 'location=ST-1': expected locations=... | channel=... | customer=..."
    assert str(twice.value) == "--scope channel= may be given once"
    assert await mongo.db["api_keys"].count_documents({}) == 0


async def test_a_revoked_key_stops_working_within_the_cache_window(settings: Settings, services: Services) -> None:
    _, csr = await services.auth.create_api_key(name="csr", role=Role.CSR)
    key_id = csr.split("_")[1]
    async with client_for(settings, api_key_cache_seconds=3.0) as client:
        assert not (await post(client, CUSTOMERS, token=csr)).json().get("errors")
        await services.auth.revoke_api_key(key_id)  # another instance (the CLI) revokes it
        cached = (await post(client, CUSTOMERS, token=csr)).json()
        assert not cached.get("errors"), "within the window the running server still knows the key"
        # Past the window: refused (waited for, not slept for; a loaded machine is slow).
        deadline = time.monotonic() + 30
        while not (refused := (await post(client, CUSTOMERS, token=csr)).json()).get("errors"):
            assert time.monotonic() < deadline, "the revoked key kept working past the cache window"
            await asyncio.sleep(0.2)
        assert codes(refused) == ["INVALID_CREDENTIAL"] and refused["data"] is None
        assert refused["errors"][0]["message"] == "The API key is not valid."


async def test_refusals_say_whether_a_credential_is_missing_invalid_or_expired(
    settings: Settings, services: Services
) -> None:
    key, good = await services.auth.create_api_key(name="csr", role=Role.CSR)
    _, revoked = await services.auth.create_api_key(name="gone", role=Role.CSR)
    await services.auth.revoke_api_key(revoked.split("_")[1])
    secret = good.split("_", 2)[2]
    bad_keys = {
        "malformed": "oms_nope",
        "unknown id": f"oms_{'0' * 16}_{secret}",
        "wrong secret": f"oms_{key.id}_{secret[::-1]}",
        "revoked": revoked,
    }
    async with client_for(settings, **jwt_settings(settings)) as client:
        missing = (await post(client, CUSTOMERS)).json()
        assert codes(missing) == ["UNAUTHENTICATED"] and missing["errors"][0]["message"].startswith("Authentication required")
        answers = {why: (await post(client, CUSTOMERS, token=bad)).json()["errors"] for why, bad in bad_keys.items()}
        # One answer for every way a key can be wrong: nothing tells a guesser which part was right.
        assert {json.dumps(errors) for errors in answers.values()} == {
            json.dumps([{"message": "The API key is not valid.", "extensions": {"code": "INVALID_CREDENTIAL"}}])
        }
        expired = (await post(client, CUSTOMERS, token=token({"exp": int(time.time()) - 120}))).json()["errors"]
        assert expired == [{"message": "The token has expired.", "extensions": {"code": "CREDENTIAL_EXPIRED"}}]
        forged = token({}, key="another-secret-that-is-also-long-enough-000")
        invalid = (await post(client, CUSTOMERS, token=forged)).json()["errors"]
        assert invalid == [{"message": "The token is not valid.", "extensions": {"code": "INVALID_CREDENTIAL"}}]
        assert (await post(client, CUSTOMERS, token=good)).json()["data"]["customers"] == {"edges": []}


@pytest.mark.parametrize(
    ("claims", "code", "why"),
    [
        ({"exp": int(time.time()) - 120}, "CREDENTIAL_EXPIRED", "expired beyond the leeway"),
        ({"aud": "someone-else"}, "INVALID_CREDENTIAL", "another audience"),
        ({"iss": "https://evil.test"}, "INVALID_CREDENTIAL", "another issuer"),
        ({"exp": None}, "INVALID_CREDENTIAL", "no expiry"),
        ({"sub": None}, "INVALID_CREDENTIAL", "no subject"),
        ({"oms_role": "ROOT"}, "INVALID_CREDENTIAL", "unknown role"),
        ({"oms_role": "STORE_STAFF"}, "INVALID_CREDENTIAL", "scoped role without its locations"),
        ({"oms_role": "CUSTOMER", "oms_customer": 42}, "INVALID_CREDENTIAL", "scope of the wrong type"),
    ],
)
async def test_bad_bearer_tokens_are_refused(settings: Settings, claims: dict[str, Any], code: str, why: str) -> None:
    async with client_for(settings, **jwt_settings(settings)) as client:
        body = (await post(client, CUSTOMERS, token=token(claims))).json()
    assert codes(body) == [code] and body["data"] is None, why
    # What was wrong with the claims is for the log, not the caller.
    assert body["errors"][0]["message"] == ("The token has expired." if code == "CREDENTIAL_EXPIRED" else "The token is not valid.")


async def test_forged_tokens_are_refused(settings: Settings) -> None:
    unsigned = jwt.encode({"sub": "x", "oms_role": "ADMIN", "exp": int(time.time()) + 60}, key="", algorithm="none")
    wrong_key = token({"oms_role": "ADMIN"}, key="another-secret-that-is-also-long-enough-000")
    async with client_for(settings, **jwt_settings(settings)) as client:
        for forged in (unsigned, wrong_key, token({})[:-4] + "AAAA", "a.b.c", "not-a-credential"):
            body = (await post(client, CUSTOMERS, token=forged)).json()
            assert codes(body) == ["INVALID_CREDENTIAL"], forged
        # An expired token with a forged signature is forged, not expired.
        expired_forgery = token({"exp": int(time.time()) - 120}, key="another-secret-that-is-also-long-enough-000")
        assert codes((await post(client, CUSTOMERS, token=expired_forgery)).json()) == ["INVALID_CREDENTIAL"]


async def test_a_valid_token_carries_role_and_scope(settings: Settings, services: Services) -> None:
    async with client_for(settings, **jwt_settings(settings)) as client:
        csr = (await post(client, CUSTOMERS, token=token({}))).json()
        assert not csr.get("errors")
        # A CUSTOMER token is scoped to its customer: the customer search is not theirs to run.
        shopper = token({"oms_role": "CUSTOMER", "oms_customer": "c-1", "oms_locations": ["ignored"]})
        assert codes((await post(client, CUSTOMERS, token=shopper)).json()) == ["FORBIDDEN"]
        # Within the leeway, a just-expired token still passes (clock skew between IdP and API).
        skewed = token({"exp": int(time.time()) - 5})
        assert not (await post(client, CUSTOMERS, token=skewed)).json().get("errors")


async def test_public_key_tokens_and_no_algorithm_confusion(settings: Settings) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    changes = jwt_settings(settings, jwt_key=public_pem, jwt_algorithms=("RS256",))
    async with client_for(settings, **changes) as client:
        good = token({}, key=private, algorithm="RS256")
        assert not (await post(client, CUSTOMERS, token=good)).json().get("errors")
        # The classic confusion: HS256 "signed" with the public key. Refused before any HMAC is tried.
        confused = jwt.api_jws.PyJWS().encode(
            json.dumps({"sub": "mallory", "oms_role": "ADMIN", "exp": int(time.time()) + 60, "iss": "https://idp.test", "aud": "oms"}).encode(),
            key="x" * 64,
            algorithm="HS256",
        )
        assert codes((await post(client, CUSTOMERS, token=confused)).json()) == ["INVALID_CREDENTIAL"]
    with pytest.raises(ValueError, match="mix"):
        JwtConfig(key=public_pem, algorithms=("RS256", "HS256"))
    with pytest.raises(ValueError, match="at least 32 bytes"):
        JwtConfig(key="short", algorithms=("HS256",))
    with pytest.raises(jwt.InvalidKeyError):
        JwtVerifier(JwtConfig(key=public_pem + "x" * 32, algorithms=("HS256",)))


def test_production_never_has_an_anonymous_admin_graphiql_or_introspection() -> None:
    production = Settings.from_env(
        {"OMS_ENV": "production", "OMS_ALLOW_ANONYMOUS_ADMIN": "true", "OMS_GRAPHIQL": "true", "OMS_INTROSPECTION": "true"}
    )
    assert not production.allow_anonymous_admin and not production.graphiql
    assert not production.limits.introspection and production.limits.hide_suggestions and not production.http_get
    built = Settings(env="production", allow_anonymous_admin=True, graphiql=True)
    assert not built.allow_anonymous_admin and not built.graphiql and not built.limits.introspection
    # Only the embedded demo database may have one, and only in development.
    assert Settings.from_env({}).allow_anonymous_admin
    assert not Settings.from_env({"MONGODB_URI": "mongodb://db.internal:27017"}).allow_anonymous_admin
    assert not Settings(mongodb_uri="mongodb://db.internal:27017", allow_anonymous_admin=True).allow_anonymous_admin


async def test_anonymous_callers_are_admins_only_in_the_development_demo(settings: Settings, mongodb_uri: str) -> None:
    demo = {"mongodb_uri": None, "allow_anonymous_admin": True, "env": "development"}
    async with client_for(settings, serve_uri=mongodb_uri, **demo) as client:
        assert not (await post(client, CUSTOMERS)).json().get("errors")
        # A bad credential never falls back to the anonymous admin.
        assert codes((await post(client, CUSTOMERS, token="oms_nope_nope")).json()) == ["INVALID_CREDENTIAL"]
    async with client_for(settings, serve_uri=mongodb_uri, **{**demo, "env": "production"}) as client:
        body = (await post(client, CUSTOMERS)).json()
        assert codes(body) == ["UNAUTHENTICATED"] and body["data"] is None


async def test_websocket_connection_init_authenticates_and_bad_credentials_close_4403(
    settings: Settings, services: Services
) -> None:
    _, csr = await services.auth.create_api_key(name="csr", role=Role.CSR)
    _, shopper = await services.auth.create_api_key(name="shopper", role=Role.CUSTOMER, customer_id="c-1")
    async with serve(replace(settings, relay_enabled=False)) as server:
        # Either form of the credential; the principal reaches resolvers through the context.
        async with GraphQLWs.connect(server.ws_url, csr) as client:
            await client.subscribe(CUSTOMERS)
            assert (await client.next_data("customers"))["edges"] == []
        async with GraphQLWs.connect(server.ws_url, params={"apiKey": shopper}) as client:
            await client.subscribe(CUSTOMERS)
            assert (await client.error())["extensions"]["code"] == "FORBIDDEN"
        async with GraphQLWs.connect(server.ws_url, params={}) as anonymous:
            await anonymous.subscribe("subscription { orderUpdated { cursor } }")
            assert (await refused(anonymous))["extensions"]["code"] == "UNAUTHENTICATED"
        for params in ({"authorization": "Bearer oms_bad_bad"}, {"apiKey": "eyJ.bad.token"}):
            async with websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
                await ws.send(json.dumps({"type": "connection_init", "payload": params}))
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403, params


def test_a_verified_token_is_remembered_but_never_past_its_expiry() -> None:
    verifier = JwtVerifier(JwtConfig(key=SECRET, leeway_seconds=0), cache_seconds=60)
    expires = int(time.time()) + 1
    short = token({"iss": None, "aud": None, "exp": expires})
    first = verifier.verify(short)
    assert first.subject == "jwt:alice" and verifier.verify(short) is first  # the second from the cache
    time.sleep(max(0.0, expires - time.time()) + 0.1)
    with pytest.raises(Unauthenticated):
        verifier.verify(short)  # still cached for a minute, but expired: checked again, and refused
