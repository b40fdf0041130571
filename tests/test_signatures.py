"""Signed webhooks: HMAC over timestamp, nonce and raw body; stale, tampered and replayed requests refused."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.domain.signatures import SignatureError, parse_header, sign, verify
from app.repositories.database import Mongo
from app.services.container import Services

SECRET = "whsec-test-0123456789abcdef"
BODY = b'{"tracking":"1Z999","status":"DELIVERED"}'


def test_a_signature_verifies_only_for_the_same_secret_body_and_a_fresh_timestamp() -> None:
    now = int(time.time())
    header = sign(SECRET, BODY, timestamp=now)
    assert verify([SECRET], header, BODY, now=now).timestamp == now
    # Rotation: either of two configured secrets may have signed it.
    assert verify(["old-secret", SECRET], header, BODY, now=now + 10).nonce == parse_header(header).nonce

    def reason(**kw: object) -> str:
        args = {"secrets": [SECRET], "header": header, "body": BODY, "now": now} | kw
        with pytest.raises(SignatureError) as refused:
            verify(args["secrets"], args["header"], args["body"], now=args["now"])  # type: ignore[arg-type]
        return refused.value.reason

    assert reason(body=BODY + b" ") == "mismatch"
    assert reason(secrets=["another-secret"]) == "mismatch"
    assert reason(now=now + 301) == "stale"
    assert reason(now=now - 301) == "stale"
    assert reason(header=None) == "missing"
    assert reason(secrets=[]) == "missing"
    assert reason(header="t=abc,n=x,v1=zz") == "malformed"
    assert reason(header=header.replace("v1=", "v1=0")) == "malformed"
    # The timestamp is signed: moving it forward to look fresh breaks the signature.
    forged = header.replace(f"t={now}", f"t={now + 200}")
    assert reason(header=forged, now=now + 200) == "mismatch"
    assert reason(header=header + "," + "x" * 2_000) == "malformed"


async def test_a_replayed_request_is_refused_even_when_two_arrive_at_once(services: Services, mongo: Mongo) -> None:
    header = sign(SECRET, BODY, timestamp=int(time.time()))
    results = await asyncio.gather(
        *[services.signatures.verify("carrier:ups", [SECRET], header, BODY) for _ in range(5)], return_exceptions=True
    )
    passed = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, SignatureError)]
    assert len(passed) == 1 and len(refused) == 4 and {r.reason for r in refused} == {"replayed"}
    # The same nonce from another source is another request; the nonce expires with the tolerance window.
    await services.signatures.verify("carrier:fedex", [SECRET], header, BODY)
    stored = await mongo.db["webhook_nonces"].find_one({"_id": f"carrier:ups:{parse_header(header).nonce}"})
    assert stored is not None and stored["expires_at"].timestamp() == pytest.approx(parse_header(header).timestamp + 301)
    indexes = await mongo.db["webhook_nonces"].index_information()
    assert indexes["expires_at_ttl"]["expireAfterSeconds"] == 0


async def test_a_refused_signature_records_no_nonce(services: Services, mongo: Mongo) -> None:
    header = sign("wrong-secret", BODY, timestamp=int(time.time()))
    with pytest.raises(SignatureError):
        await services.signatures.verify("carrier:ups", [SECRET], header, BODY)
    assert await mongo.db["webhook_nonces"].count_documents({}) == 0
