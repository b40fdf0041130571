"""upsertChannel: create and change sales channels (ADMIN, audited), code rules, idempotent re-runs,
a deactivated channel at capture, and roles."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.channels import Channel, ChannelKind, validate_channel
from app.domain.errors import InvalidInput
from app.domain.principals import Role
from app.repositories.database import Mongo
from app.services.container import Services
from tests.conftest import GraphQLClient
from tests.factories import World
from tests.order_helpers import CAPTURE, capture_input, network

pytestmark = pytest.mark.usefixtures("reservations_consistent")

ERRORS = "... on Error { __typename code message field } ... on InvalidInputError { issues { code field message } }"
UPSERT = f"""
mutation($input: UpsertChannelInput!) {{
  upsertChannel(input: $input) {{
    __typename
    ... on UpsertChannelPayload {{ created changed channel {{ id code name kind backorderPolicy shippingPolicy active }} }}
    {ERRORS}
  }}
}}
"""
CHANNELS = "{ channels { code name kind backorderPolicy shippingPolicy active } }"


async def upsert(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    value = {"code": "amazon-us", "name": "Amazon US", "kind": "MARKETPLACE", **fields}
    result: dict[str, Any] = (await gql.data(UPSERT, {"input": value}))["upsertChannel"]
    return result


def test_channel_codes_are_short_lower_case_and_url_safe() -> None:
    for good in ("web", "amazon-us", "pos_2", "a", "x" * 40):
        assert validate_channel(Channel(id=good, name=" Web ", kind=ChannelKind.WEB)).name == "Web"
    for bad in ("", "Web", "amazon us", "amazon.us", "x" * 41, "web\n", "shop/1"):
        with pytest.raises(InvalidInput) as refused:
            validate_channel(Channel(id=bad, name="Web", kind=ChannelKind.WEB))
        assert [issue.field for issue in refused.value.issues] == [("code",)], bad


async def test_admin_creates_a_channel_and_it_is_audited(gql: GraphQLClient, mongo: Mongo) -> None:
    result = await gql.data(UPSERT, {"input": {"code": "amazon-us", "name": " Amazon US ", "kind": "MARKETPLACE",
                                               "backorderPolicy": "REFUSE", "reason": "new marketplace"}})
    payload = result["upsertChannel"]
    assert (payload["__typename"], payload["created"], payload["changed"]) == ("UpsertChannelPayload", True, True)
    assert payload["channel"] == {
        "id": payload["channel"]["id"], "code": "amazon-us", "name": "Amazon US", "kind": "MARKETPLACE",
        "backorderPolicy": "REFUSE", "shippingPolicy": "CHEAPEST", "active": True,
    }
    listed = (await gql.data(CHANNELS))["channels"]
    assert [c["code"] for c in listed] == ["amazon-us"]

    event = await mongo.db.events.find_one({"aggregate_type": "Channel"})
    assert event is not None
    assert (event["type"], event["aggregate_id"], event["channel_id"], event["reason"]) == (
        "ChannelCreated", "amazon-us", "amazon-us", "new marketplace"
    )
    assert event["actor"] == {"subject": "apikey:test-admin", "role": "ADMIN"}
    assert event["payload"]["channel"]["backorderPolicy"] == "REFUSE"


async def test_the_same_input_again_changes_nothing_and_a_change_records_its_diff(gql: GraphQLClient, mongo: Mongo) -> None:
    await upsert(gql)
    again = await upsert(gql)
    assert (again["created"], again["changed"]) == (False, False)
    assert await mongo.db.events.count_documents({"aggregate_type": "Channel"}) == 1

    changed = await upsert(gql, shippingPolicy="FASTEST", name="Amazon (US)")
    assert (changed["created"], changed["changed"], changed["channel"]["shippingPolicy"]) == (False, True, "FASTEST")
    event = await mongo.db.events.find_one({"type": "ChannelUpdated"})
    assert event is not None and event["payload"] == {
        "changes": {"name": {"before": "Amazon US", "after": "Amazon (US)"}, "shippingPolicy": {"before": "CHEAPEST", "after": "FASTEST"}}
    }


async def test_a_bad_code_or_name_is_refused_and_nothing_is_written(gql: GraphQLClient, mongo: Mongo) -> None:
    result = await upsert(gql, code="Amazon US", name="  ")
    assert (result["__typename"], result["code"]) == ("InvalidInputError", "INVALID_INPUT")
    assert sorted(tuple(issue["field"]) for issue in result["issues"]) == [("code",), ("name",)]
    assert await mongo.db.channels.count_documents({}) == 0
    assert await mongo.db.events.count_documents({}) == 0


async def test_a_deactivated_channel_takes_no_orders_and_keeps_its_own(gql: GraphQLClient, world: World, mongo: Mongo) -> None:
    await network(world)
    assert (await gql.data(CAPTURE, {"input": capture_input("W-1")}))["captureOrder"]["__typename"] == "CaptureOrderPayload"

    closed = await upsert(gql, code="web", name="Web", kind="WEB", active=False)
    assert (closed["created"], closed["changed"]) == (False, True)
    refused = (await gql.data(CAPTURE, {"input": capture_input("W-2")}))["captureOrder"]
    assert refused["__typename"] == "InvalidInputError"
    assert [i["field"] for i in refused["issues"]] == [["channel"]]
    assert await mongo.db.orders.count_documents({"channel_id": "web"}) == 1

    await upsert(gql, code="web", name="Web", kind="WEB", active=True)
    assert (await gql.data(CAPTURE, {"input": capture_input("W-2")}))["captureOrder"]["__typename"] == "CaptureOrderPayload"


async def test_only_admins_change_channels(gql: GraphQLClient, services: Services, mongo: Mongo) -> None:
    for role, scope in [
        (Role.CSR, {}),
        (Role.STORE_STAFF, {"location_ids": frozenset({"ST-BOS"})}),
        (Role.CHANNEL, {"channel_id": "amazon-us"}),
        (Role.CUSTOMER, {"customer_id": "c1"}),
    ]:
        _, token = await services.auth.create_api_key(name=f"t-{role.value.lower()}", role=role, **scope)
        result = (await gql.as_(token).data(UPSERT, {"input": {"code": "amazon-us", "name": "A", "kind": "MARKETPLACE"}}))
        assert (result["upsertChannel"]["__typename"], result["upsertChannel"]["code"]) == ("PermissionDeniedError", "FORBIDDEN")
    assert await mongo.db.channels.count_documents({}) == 0
    assert await mongo.db.events.count_documents({}) == 0
