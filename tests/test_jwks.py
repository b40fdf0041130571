"""JWTs from an identity provider: verified against its JWKS (served here by a real HTTP server on
127.0.0.1), issuer and audience checked, keys cached, fetched again on an unknown kid (a rotation)
at most once per refresh interval, and no algorithm confusion."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.services.jwt_tokens import JwtConfig, JwtVerifier
from app.settings import Settings
from tests.security_helpers import client_for, codes, post

CHANNELS = "{ channels { code } }"
ISSUER = "https://idp.test"


class IdentityProvider:
    """A JWKS endpoint on 127.0.0.1 (random port) whose keys a test can rotate; counts its requests."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.requests = 0
        self.down = False
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                provider.requests += 1
                if provider.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                body = json.dumps({"keys": [provider.jwk(kid) for kid in provider.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add_rsa(self, kid: str) -> Any:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self.keys[kid]

    def jwk(self, kid: str) -> dict[str, Any]:
        private = self.keys[kid]
        if isinstance(private, rsa.RSAPrivateKey):
            entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
            entry["alg"] = "RS256"
        else:
            entry = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
        return {**entry, "kid": kid, "use": "sig"}

    def token(self, kid: str, *, algorithm: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        body = {"sub": "alice", "oms_role": "ADMIN", "iss": ISSUER, "aud": "oms", "iat": now, "exp": now + 300, **claims}
        return jwt.encode({k: v for k, v in body.items() if v is not None}, self.keys[kid], algorithm=algorithm, headers={"kid": kid})


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    provider.add_rsa("2026-11")
    provider.thread.start()
    yield provider
    provider.server.shutdown()
    provider.server.server_close()


def _jwks_settings(idp: IdentityProvider, **changes: Any) -> dict[str, Any]:
    return {
        "jwt_jwks_url": idp.url,
        "jwt_algorithms": ("RS256", "ES256"),
        "jwt_issuer": ISSUER,
        "jwt_audience": "oms",
        "jwt_jwks_refresh_seconds": 30.0,
        **changes,
    }


def _hs256_signed_with(secret: bytes, claims: dict[str, Any], kid: str) -> str:
    """The classic confusion: an HS256 token whose HMAC secret is the IdP's *public* key."""
    encode = lambda part: base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=")  # noqa: E731
    signing_input = encode({"alg": "HS256", "typ": "JWT", "kid": kid}) + b"." + encode(claims)
    signature = base64.urlsafe_b64encode(hmac.new(secret, signing_input, hashlib.sha256).digest()).rstrip(b"=")
    return (signing_input + b"." + signature).decode()


async def test_tokens_verify_against_the_jwks_and_a_rotated_key_is_fetched_once(
    settings: Settings, idp: IdentityProvider
) -> None:
    async with client_for(settings, **_jwks_settings(idp)) as client:
        first = await post(client, CHANNELS, token=idp.token("2026-11"))
        assert first.status_code == 200 and not first.json().get("errors")
        assert idp.requests == 1
        for n in range(3):  # the set is cached: no fetch per token
            assert not (await post(client, CHANNELS, token=idp.token("2026-11", sub=f"user-{n}"))).json().get("errors")
        assert idp.requests == 1
        # The IdP rotates: a new key signs from now on, the old one is withdrawn.
        idp.add_rsa("2026-12")
        withdrawn = idp.token("2026-11", sub="late")
        del idp.keys["2026-11"]
        rotated = await post(client, CHANNELS, token=idp.token("2026-12"))
        assert not rotated.json().get("errors") and idp.requests == 2
        # The withdrawn key went with the refresh: its tokens are refused, without another fetch.
        assert codes((await post(client, CHANNELS, token=withdrawn)).json()) == ["INVALID_CREDENTIAL"]
        assert idp.requests == 2


async def test_a_flood_of_unknown_kids_fetches_the_jwks_at_most_once_per_interval(idp: IdentityProvider) -> None:
    verifier = JwtVerifier(JwtConfig(jwks_url=idp.url, algorithms=("RS256",), issuer=ISSUER, audience="oms"))
    await verifier.verify_async(idp.token("2026-11"))
    assert idp.requests == 1
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bogus = [
        jwt.encode({"sub": "x", "oms_role": "ADMIN", "exp": int(time.time()) + 60}, forger, algorithm="RS256", headers={"kid": f"k{n}"})
        for n in range(50)
    ]
    outcomes = await asyncio.gather(*(verifier.verify_async(t) for t in bogus), return_exceptions=True)
    assert all(getattr(o, "code", None) is not None and o.code.value == "INVALID_CREDENTIAL" for o in outcomes)
    assert idp.requests == 2  # one refresh for the whole flood, then refused from memory
    # Known keys keep working during the flood and when the IdP is down.
    idp.down = True
    assert (await verifier.verify_async(idp.token("2026-11", sub="bob"))).subject == "jwt:bob"


async def test_wrong_issuer_audience_expiry_kid_and_algorithm_are_refused(
    settings: Settings, idp: IdentityProvider
) -> None:
    private = idp.keys["2026-11"]
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    async with client_for(settings, **_jwks_settings(idp)) as client:
        refused = {
            "issuer": idp.token("2026-11", iss="https://evil.test"),
            "audience": idp.token("2026-11", aud="someone-else"),
            "no audience": idp.token("2026-11", aud=None),
            "unknown kid": jwt.encode({"sub": "m", "oms_role": "ADMIN", "iss": ISSUER, "aud": "oms", "exp": now + 60}, forger, algorithm="RS256", headers={"kid": "2026-11-x"}),
            "right kid, wrong key": jwt.encode({"sub": "m", "oms_role": "ADMIN", "iss": ISSUER, "aud": "oms", "exp": now + 60}, forger, algorithm="RS256", headers={"kid": "2026-11"}),
            "HS256 with the public key": _hs256_signed_with(public_pem, {"sub": "m", "oms_role": "ADMIN", "iss": ISSUER, "aud": "oms", "exp": now + 60}, "2026-11"),
            "alg none": jwt.encode({"sub": "m", "oms_role": "ADMIN", "iss": ISSUER, "aud": "oms", "exp": now + 60}, None, algorithm="none", headers={"kid": "2026-11"}),
        }
        for reason, bad in refused.items():
            answer = await post(client, CHANNELS, token=bad)
            assert codes(answer.json()) == ["INVALID_CREDENTIAL"], reason
            assert answer.json()["data"] is None, reason
        expired = idp.token("2026-11", exp=now - 120, iat=now - 600)
        assert codes((await post(client, CHANNELS, token=expired)).json()) == ["CREDENTIAL_EXPIRED"]
        assert not (await post(client, CHANNELS, token=idp.token("2026-11"))).json().get("errors")


async def test_a_key_verifies_only_the_algorithm_family_it_belongs_to(idp: IdentityProvider) -> None:
    idp.keys["ec-1"] = ec.generate_private_key(ec.SECP256R1())
    verifier = JwtVerifier(JwtConfig(jwks_url=idp.url, algorithms=("RS256", "ES256"), issuer=ISSUER, audience="oms"))
    assert (await verifier.verify_async(idp.token("ec-1", algorithm="ES256"))).subject == "jwt:alice"
    # The RSA key declared alg RS256: a token claiming ES256 under its kid is refused before any check.
    forger = ec.generate_private_key(ec.SECP256R1())
    claims = {"sub": "m", "oms_role": "ADMIN", "iss": ISSUER, "aud": "oms", "exp": int(time.time()) + 60}
    mixed = jwt.encode(claims, forger, algorithm="ES256", headers={"kid": "2026-11"})
    with pytest.raises(Exception) as refused:
        await verifier.verify_async(mixed)
    assert getattr(refused.value, "code", None) is not None and refused.value.code.value == "INVALID_CREDENTIAL"


def test_a_jwks_takes_public_key_algorithms_and_no_static_key_beside_it() -> None:
    with pytest.raises(ValueError, match="HS"):
        JwtConfig(jwks_url="https://idp.test/jwks", algorithms=("HS256",))
    with pytest.raises(ValueError, match="not both"):
        JwtConfig(key="k" * 64, jwks_url="https://idp.test/jwks", algorithms=("RS256",))
    configured = Settings.from_env({"OMS_JWT_JWKS_URL": "https://idp.test/jwks", "OMS_JWT_ISSUER": ISSUER})
    assert configured.jwt_algorithms == ("RS256",) and configured.jwt_jwks_url == "https://idp.test/jwks"
    plain = Settings.from_env({"OMS_ENV": "production", "OMS_JWT_JWKS_URL": "http://idp.test/jwks"})
    assert any("OMS_JWT_JWKS_URL is not https" in w for w in plain.production_warnings())
