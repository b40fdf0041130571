"""upsertCustomer and mergeCustomers over HTTP on the real app and database: keys, idempotency,
merges moving history, refusals that write nothing, and the audit events."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from app.domain.customers import ChannelIdentity, CustomerDraft
from app.domain.principals import Principal, Role
from app.repositories.database import Mongo
from app.services.container import Services
from app.services.customer_merges import MAX_MERGED_ORDERS
from tests.conftest import GraphQLClient
from tests.factories import World, customer
from tests.order_helpers import CAPTURE, capture_input, capture_request, network

pytestmark = pytest.mark.usefixtures("reservations_consistent")

ERRORS = "... on Error { __typename code message field } ... on InvalidInputError { issues { code field message } }"
CUSTOMER_FIELDS = "id firstName lastName email phone addresses { line1 city postalCode country } identities { channelCode externalId }"
UPSERT = f"""
mutation($input: UpsertCustomerInput!) {{
  upsertCustomer(input: $input) {{
    __typename
    ... on UpsertCustomerPayload {{ created changed changedFields customer {{ {CUSTOMER_FIELDS} }} }}
    {ERRORS}
  }}
}}
"""
MERGE = f"""
mutation($input: MergeCustomersInput!) {{
  mergeCustomers(input: $input) {{
    __typename
    ... on MergeCustomersPayload {{
      mergedId ordersMoved shipmentsMoved identitiesMoved addressesAdded apiKeysMoved
      customer {{ {CUSTOMER_FIELDS} lifetime {{ orderCount spend {{ cents }} byChannel {{ channelCode orderCount }} }} }}
    }}
    {ERRORS}
  }}
}}
"""
READ = f"query($id: ID!) {{ customer(id: $id) {{ {CUSTOMER_FIELDS} }} }}"
NODE = "query($id: ID!) { node(id: $id) { id } }"
SEARCH = "query($q: String) { customers(search: $q, first: 20) { edges { node { id email } } } }"
ADA = {
    "firstName": "Ada",
    "lastName": "Lovelace",
    "email": "  Ada.Lovelace@Example.COM ",
    "phone": "+1 (617) 555-0101",
    "addresses": [{"line1": "1 Beacon St", "city": "Boston", "postalCode": "02108", "region": "MA"}],
    "identities": [{"channel": "amazon", "externalId": "AMZ-ADA"}],
}
_WATCHED = ("customers", "customer_keys", "events", "orders", "shipments", "api_keys")


def gid(type_name: str, node_id: str) -> str:
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


def node_id(global_id: str) -> str:
    return base64.b64decode(global_id).decode().split(":", 1)[1]


async def fingerprint(mongo: Mongo) -> str:
    digest = hashlib.sha256()
    for name in _WATCHED:
        async for doc in mongo.db[name].find({}, {"seq": 0}).sort("_id", 1):
            digest.update(json.dumps(doc, sort_keys=True, default=str).encode())
    return digest.hexdigest()


async def _token(services: Services, role: Role, **scope: Any) -> str:
    return (await services.auth.create_api_key(name=f"test-{role.value.lower()}", role=role, **scope))[1]


async def upsert(gql: GraphQLClient, **fields: Any) -> dict[str, Any]:
    return (await gql.data(UPSERT, {"input": fields}))["upsertCustomer"]


async def merge(gql: GraphQLClient, survivor: str, merged: str, reason: str = "same person, two sign-ups") -> dict[str, Any]:
    variables = {"input": {"survivorId": gid("Customer", survivor), "mergedId": gid("Customer", merged), "reason": reason}}
    return (await gql.data(MERGE, variables))["mergeCustomers"]


async def keys_of(mongo: Mongo, customer_id: str) -> set[str]:
    return {doc["_id"] async for doc in mongo.db["customer_keys"].find({"customer_id": customer_id})}


async def events_of(mongo: Mongo, kind: str) -> list[dict[str, Any]]:
    return [doc async for doc in mongo.db["events"].find({"type": kind}).sort("_id", 1)]


# --- upsertCustomer ----------------------------------------------------------------------------


async def test_admin_creates_a_normalized_customer_with_its_keys_and_an_audited_event(
    gql: GraphQLClient, world: World, mongo: Mongo
) -> None:
    result = await upsert(gql, **ADA, reason="walk-in sign-up")

    assert (result["__typename"], result["created"], result["changed"]) == ("UpsertCustomerPayload", True, True)
    assert result["changedFields"] == ["firstName", "lastName", "email", "phone", "addresses", "identities"]
    made = result["customer"]
    assert (made["email"], made["phone"]) == ("ada.lovelace@example.com", "+16175550101")
    assert made["addresses"] == [{"line1": "1 Beacon St", "city": "Boston", "postalCode": "02108", "country": "US"}]
    assert made["identities"] == [{"channelCode": "amazon", "externalId": "AMZ-ADA"}]
    ada = node_id(made["id"])
    assert await keys_of(mongo, ada) == {"email:ada.lovelace@example.com", "phone:+16175550101", "identity:amazon:AMZ-ADA"}
    [event] = await events_of(mongo, "CustomerCreated")
    assert (event["aggregate_type"], event["aggregate_id"], event["customer_id"]) == ("Customer", ada, ada)
    assert event["actor"] == {"subject": "apikey:test-admin", "role": "ADMIN"} and event["reason"] == "walk-in sign-up"
    # What customer events always carried (email, phone) and the channel's ids; names and addresses only by name.
    assert event["payload"] == {
        "changed": ["firstName", "lastName", "email", "phone", "addresses", "identities"],
        "email": "ada.lovelace@example.com",
        "phone": "+16175550101",
        "identitiesAdded": [{"channel": "amazon", "externalId": "AMZ-ADA"}],
    }
    # Search terms are current: found by name, email and national phone number.
    for term in ("lovel", "ada.lovelace@", "617555"):
        found = (await gql.data(SEARCH, {"q": term}))["customers"]["edges"]
        assert [edge["node"]["id"] for edge in found] == [made["id"]], term


async def test_a_csr_updates_a_customer_and_the_keys_it_drops_are_free_for_others(
    gql: GraphQLClient, services: Services, world: World, mongo: Mongo
) -> None:
    ada = node_id((await upsert(gql, **ADA))["customer"]["id"])
    csr = gql.as_(await _token(services, Role.CSR))

    changed = (await csr.data(UPSERT, {"input": {
        "id": gid("Customer", ada), "email": "ada@lovelace.org", "phone": None, "identities": [], "reason": "called in",
    }}))["upsertCustomer"]

    assert (changed["created"], changed["changedFields"]) == (False, ["email", "phone", "identities"])
    assert (changed["customer"]["firstName"], changed["customer"]["phone"]) == ("Ada", None)  # omitted kept, null cleared
    assert changed["customer"]["addresses"][0]["line1"] == "1 Beacon St"
    assert await keys_of(mongo, ada) == {"email:ada@lovelace.org"}
    [event] = await events_of(mongo, "CustomerUpdated")
    assert event["actor"] == {"subject": "apikey:test-csr", "role": "CSR"} and event["reason"] == "called in"
    assert event["payload"] == {
        "changed": ["email", "phone", "identities"],
        "email": "ada@lovelace.org",
        "phone": None,
        "identitiesRemoved": [{"channel": "amazon", "externalId": "AMZ-ADA"}],
    }
    # The released email, phone and identity now belong to nobody: another customer may take them.
    other = await upsert(gql, email="ada.lovelace@example.com", phone="+16175550101", identities=ADA["identities"])
    assert other["__typename"] == "UpsertCustomerPayload"
    assert await keys_of(mongo, node_id(other["customer"]["id"])) == {
        "email:ada.lovelace@example.com", "phone:+16175550101", "identity:amazon:AMZ-ADA",
    }


async def test_an_upsert_that_changes_nothing_writes_nothing(gql: GraphQLClient, world: World, mongo: Mongo) -> None:
    ada = (await upsert(gql, **ADA))["customer"]["id"]
    before = await fingerprint(mongo)

    again = await upsert(gql, id=ada, **ADA)  # the same values, spelled as the client first sent them
    names_only = await upsert(gql, id=ada, firstName=" Ada ")

    for result in (again, names_only):
        assert (result["__typename"], result["created"], result["changed"], result["changedFields"]) == (
            "UpsertCustomerPayload", False, False, [],
        )
    assert await fingerprint(mongo) == before


@pytest.mark.parametrize(
    ("taken", "field"),
    [
        ({"email": "ADA.LOVELACE@example.com"}, ["email"]),
        ({"phone": "+1 617 555 0101"}, ["phone"]),
        ({"identities": [{"channel": "web", "externalId": "W-9"}, {"channel": "amazon", "externalId": "AMZ-ADA"}]},
         ["identities", "1"]),
    ],
)
async def test_a_key_of_another_customer_is_a_conflict_naming_the_field_and_nothing_is_written(
    gql: GraphQLClient, world: World, mongo: Mongo, taken: dict[str, Any], field: list[str]
) -> None:
    await upsert(gql, **ADA)
    bob = node_id((await upsert(gql, firstName="Bob", email="bob@example.com"))["customer"]["id"])
    before = await fingerprint(mongo)

    created = await upsert(gql, firstName="Eve", **({"email": "eve@example.com"} | taken))
    updated = await upsert(gql, id=gid("Customer", bob), **taken)

    for result in (created, updated):
        assert (result["__typename"], result["code"], result["field"]) == ("ConflictError", "CONFLICT", field)
    assert await fingerprint(mongo) == before


async def test_customers_written_before_keys_existed_still_own_their_phone_and_identities(
    gql: GraphQLClient, world: World, mongo: Mongo
) -> None:
    # Seeded customers have no customer_keys documents: their own fields are checked too.
    legacy = customer("Bob", "Seeded", phone="+16175550199", identities=[ChannelIdentity("web", "W-BOB")])
    await world.add_customers(legacy)
    before = await fingerprint(mongo)

    by_phone = await upsert(gql, email="eve@example.com", phone="+1 617-555-0199")
    by_identity = await upsert(gql, email="eve@example.com", identities=[{"channel": "web", "externalId": "W-BOB"}])
    by_email = await upsert(gql, email="bob.seeded@example.com")

    assert [r["field"] for r in (by_phone, by_identity, by_email)] == [["phone"], ["identities", "0"], ["email"]]
    assert {r["code"] for r in (by_phone, by_identity, by_email)} == {"CONFLICT"}
    assert await fingerprint(mongo) == before
    # Updating the seeded customer claims the keys it holds, so they are guarded from then on.
    await upsert(gql, id=gid("Customer", legacy.id), lastName="Builder")
    assert await keys_of(mongo, legacy.id) == {"email:bob.seeded@example.com", "phone:+16175550199", "identity:web:W-BOB"}


async def test_bad_input_reports_every_issue_with_its_field_and_writes_nothing(
    gql: GraphQLClient, world: World, mongo: Mongo
) -> None:
    before = await fingerprint(mongo)
    result = await upsert(
        gql,
        firstName="x" * 101,
        email="not-an-email",
        phone="12-34",
        addresses=[{"line1": "1 Main St", "city": " ", "postalCode": "02108", "country": "USA"}],
        identities=[{"channel": "ebay", "externalId": "E-1"}, {"channel": "web", "externalId": ""}],
    )
    assert (result["__typename"], result["code"]) == ("InvalidInputError", "INVALID_INPUT")
    assert sorted(tuple(issue["field"]) for issue in result["issues"]) == [
        ("addresses", "0", "city"),
        ("addresses", "0", "country"),
        ("email",),
        ("firstName",),
        ("identities", "0", "channel"),
        ("identities", "1", "externalId"),
        ("phone",),
    ]
    nothing = await upsert(gql, firstName="Nobody")
    assert (nothing["code"], nothing["field"], nothing["issues"][0]["field"]) == ("INVALID_INPUT", None, [])
    too_many = await upsert(gql, email="many@example.com", addresses=[{"line1": f"{n} Main St", "city": "Boston", "postalCode": "02108"} for n in range(21)])
    assert too_many["issues"][0]["field"] == ["addresses"]
    assert await fingerprint(mongo) == before


async def test_updating_an_unknown_customer_or_another_type_of_id_is_refused(gql: GraphQLClient, world: World) -> None:
    missing = await upsert(gql, id=gid("Customer", "0" * 24), firstName="Ghost")
    assert (missing["__typename"], missing["field"]) == ("NotFoundError", ["id"])
    wrong = await upsert(gql, id=gid("Order", "0" * 24), firstName="Ghost")
    assert (wrong["__typename"], wrong["field"]) == ("InvalidInputError", ["id"])


async def test_roles_other_than_admin_and_csr_may_not_upsert_and_only_admins_merge(
    gql: GraphQLClient, services: Services, world: World, mongo: Mongo
) -> None:
    ada = node_id((await upsert(gql, **ADA))["customer"]["id"])
    bob = node_id((await upsert(gql, email="bob@example.com"))["customer"]["id"])
    callers = [
        gql.as_(await _token(services, role, **scope))
        for role, scope in [
            (Role.STORE_STAFF, {"location_ids": frozenset({"ST-X"})}),
            (Role.WAREHOUSE, {"location_ids": frozenset({"DC-X"})}),
            (Role.CHANNEL, {"channel_id": "web"}),
            (Role.CUSTOMER, {"customer_id": ada}),
        ]
    ]
    csr = gql.as_(await _token(services, Role.CSR))
    before = await fingerprint(mongo)
    for role, caller in zip(("STORE_STAFF", "WAREHOUSE", "CHANNEL", "CUSTOMER"), callers):
        refused = (await caller.data(UPSERT, {"input": {"id": gid("Customer", ada), "firstName": "Eve"}}))["upsertCustomer"]
        assert (refused["__typename"], refused["code"]) == ("PermissionDeniedError", "FORBIDDEN"), role
    merge_input = {"survivorId": gid("Customer", ada), "mergedId": gid("Customer", bob), "reason": "dupe"}
    refused = (await csr.data(MERGE, {"input": merge_input}))["mergeCustomers"]
    assert (refused["__typename"], refused["code"]) == ("PermissionDeniedError", "FORBIDDEN")
    assert await fingerprint(mongo) == before


async def test_importing_a_row_twice_matches_the_same_customer_and_changes_nothing(
    services: Services, world: World, mongo: Mongo
) -> None:
    admin = Principal(subject="import", role=Role.ADMIN)
    row = CustomerDraft(first_name="Ada", email="ada@example.com", identities=(ChannelIdentity("pos", "LOY-1"),))

    first = await services.customers.import_customer(admin, row)
    again = await services.customers.import_customer(admin, row)
    by_identity = await services.customers.import_customer(
        admin, CustomerDraft(last_name="Lovelace", identities=(ChannelIdentity("pos", "LOY-1"),))
    )
    by_email = await services.customers.import_customer(admin, CustomerDraft(email="ADA@example.com", phone="+16175550101"))

    assert (first.created, again.created, again.changed) == (True, False, ())
    assert {first.customer.id, again.customer.id, by_identity.customer.id, by_email.customer.id} == {first.customer.id}
    assert by_identity.changed == ("lastName",) and by_email.changed == ("phone",)
    assert await mongo.db["customers"].count_documents({}) == 1
    assert [e["type"] async for e in mongo.db["events"].find().sort("_id", 1)] == [
        "CustomerCreated", "CustomerUpdated", "CustomerUpdated",
    ]


# --- mergeCustomers ----------------------------------------------------------------------------


async def _two_records_of_ada(gql: GraphQLClient, world: World) -> tuple[str, str]:
    """Ada ordered on the web (ada@example.com) and, as a guest, on Amazon with her phone: two
    customers, each with a captured order (reserved, with its shipment)."""
    await network(world)
    web = (await gql.data(CAPTURE, {"input": capture_input("W-1")}))["captureOrder"]
    amazon = capture_input(
        "AMZ-1", channel="amazon",
        customer={"phone": "+1 617 555 0101", "firstName": "A.", "lastName": "Lovelace", "channelCustomerId": "AMZ-ADA"},
        lines=[{"sku": "SKU-3", "quantity": 1, "unitPriceCents": 400}],
    )
    guest = (await gql.data(CAPTURE, {"input": amazon}))["captureOrder"]
    second = (await gql.data(CAPTURE, {"input": {**amazon, "externalId": "AMZ-2"}}))["captureOrder"]
    survivor, merged = node_id(web["order"]["customer"]["id"]), node_id(guest["order"]["customer"]["id"])
    assert survivor != merged and node_id(second["order"]["customer"]["id"]) == merged
    # The guest record also has the web address, spelled differently, and one of its own.
    await upsert(gql, id=gid("Customer", merged), addresses=[
        {"line1": "1 BEACON ST", "city": "boston", "postalCode": "02108", "region": "ma"},
        {"line1": "9 Elm St", "city": "Cambridge", "postalCode": "02139", "region": "MA"},
    ])
    return survivor, merged


async def test_a_merge_moves_orders_shipments_identities_addresses_keys_and_figures(
    gql: GraphQLClient, world: World, mongo: Mongo, services: Services
) -> None:
    survivor, merged = await _two_records_of_ada(gql, world)
    merged_key, merged_token = await services.auth.create_api_key(name="ada-app", role=Role.CUSTOMER, customer_id=merged)
    orders_before = {doc["_id"]: doc["version"] async for doc in mongo.db["orders"].find({"customer_id": merged})}

    result = await merge(gql, survivor, merged)

    assert result["__typename"] == "MergeCustomersPayload", result
    assert (result["ordersMoved"], result["shipmentsMoved"], result["identitiesMoved"]) == (2, 2, 1)
    assert (result["addressesAdded"], result["apiKeysMoved"], result["mergedId"]) == (1, 1, gid("Customer", merged))
    ada = result["customer"]
    assert (ada["id"], ada["email"], ada["phone"], ada["firstName"]) == (
        gid("Customer", survivor), "ada@example.com", "+16175550101", "Ada",
    )
    assert [a["line1"] for a in ada["addresses"]] == ["1 Beacon St", "9 Elm St"]
    assert ada["identities"] == [{"channelCode": "amazon", "externalId": "AMZ-ADA"}]
    # Lifetime figures follow the orders: 2 × 10.00 on the web, 2 × 4.00 on Amazon.
    assert ada["lifetime"]["orderCount"] == 3
    assert ada["lifetime"]["spend"]["cents"] == 2000 + 2 * 400
    assert {c["channelCode"]: c["orderCount"] for c in ada["lifetime"]["byChannel"]} == {"amazon": 2, "web": 1}
    db = mongo.db
    assert await db["orders"].count_documents({"customer_id": merged}) == 0
    assert await db["shipments"].count_documents({"customer_id": merged}) == 0
    assert await db["shipments"].count_documents({"customer_id": survivor}) == 3
    # Versions moved on: a writer holding an older copy fails its guard instead of writing the old customer back.
    assert {doc["_id"]: doc["version"] async for doc in db["orders"].find({"_id": {"$in": list(orders_before)}})} == {
        order_id: version + 1 for order_id, version in orders_before.items()
    }
    assert await keys_of(mongo, survivor) == {"email:ada@example.com", "phone:+16175550101", "identity:amazon:AMZ-ADA"}
    assert await keys_of(mongo, merged) == set()
    tombstone = await db["customers"].find_one({"_id": merged})
    assert tombstone is not None and tombstone["merged_into"] == survivor
    assert (tombstone["email"], tombstone["phone"], tombstone["identities"]) == (None, None, [])
    assert tombstone["merged_from"]["phone"] == "+16175550101"
    assert (await db["api_keys"].find_one({"_id": merged_key.id}) or {})["customer_id"] == survivor
    # On both timelines, with the actor, the reason and the counts.
    events = await events_of(mongo, "CustomersMerged")
    assert sorted(e["customer_id"] for e in events) == sorted([survivor, merged])
    for event in events:
        assert event["actor"] == {"subject": "apikey:test-admin", "role": "ADMIN"}
        assert event["reason"] == "same person, two sign-ups"
        assert event["payload"] == {
            "survivorId": survivor, "mergedId": merged, "ordersMoved": 2, "shipmentsMoved": 2, "identitiesMoved": 1,
            "addressesAdded": 1, "emailTaken": False, "phoneTaken": True, "apiKeysMoved": 1,
        }

    # The merged id: customer(id) answers the survivor; node(id) keeps the Relay contract (null);
    # search lists only the survivor.
    assert (await gql.data(READ, {"id": gid("Customer", merged)}))["customer"]["id"] == gid("Customer", survivor)
    assert (await gql.data(NODE, {"id": gid("Customer", merged)}))["node"] is None
    assert [e["node"]["id"] for e in (await gql.data(SEARCH, {"q": "lovelace"}))["customers"]["edges"]] == [
        gid("Customer", survivor),
    ]
    # The merged customer's API key now acts for the survivor and sees all of Ada's orders.
    app = gql.as_(merged_token)
    own = await app.data("{ orders(first: 10) { edges { node { externalId } } } }")
    assert {e["node"]["externalId"] for e in own["orders"]["edges"]} == {"W-1", "AMZ-1", "AMZ-2"}
    assert (await app.data(READ, {"id": gid("Customer", merged)}))["customer"]["id"] == gid("Customer", survivor)


async def test_after_a_merge_the_phone_and_identity_match_the_survivor_and_old_credentials_order_for_it(
    gql: GraphQLClient, world: World, mongo: Mongo, services: Services
) -> None:
    survivor, merged = await _two_records_of_ada(gql, world)
    await merge(gql, survivor, merged)

    # Amazon sends Ada's buyer id again: matched to the survivor, no new customer.
    again = capture_input("AMZ-3", channel="amazon", customer={"channelCustomerId": "AMZ-ADA"},
                          lines=[{"sku": "SKU-3", "quantity": 1}])
    placed = (await gql.data(CAPTURE, {"input": again}))["captureOrder"]
    assert node_id(placed["order"]["customer"]["id"]) == survivor
    # A credential issued before the merge (a JWT naming the merged id) orders for the survivor.
    stale = Principal(subject="jwt:ada", role=Role.CUSTOMER, customer_id=merged)
    captured = await services.order_capture.capture(stale, capture_request(capture_input("W-2")))
    assert captured.order.customer_id == survivor
    assert await mongo.db["customers"].count_documents({}) == 2


async def test_merged_keys_the_survivor_does_not_take_are_released(gql: GraphQLClient, world: World, mongo: Mongo) -> None:
    ada = node_id((await upsert(gql, **ADA))["customer"]["id"])
    other = node_id((await upsert(gql, email="ada@work.example", phone="+447700900123"))["customer"]["id"])

    result = await merge(gql, ada, other)

    assert result["customer"]["email"] == "ada.lovelace@example.com"  # the survivor keeps its own
    assert await keys_of(mongo, ada) == {"email:ada.lovelace@example.com", "phone:+16175550101", "identity:amazon:AMZ-ADA"}
    assert await mongo.db["customer_keys"].count_documents({"_id": {"$in": ["email:ada@work.example", "phone:+447700900123"]}}) == 0
    reused = await upsert(gql, email="ada@work.example", phone="+447700900123")
    assert reused["__typename"] == "UpsertCustomerPayload"


async def test_merging_into_a_survivor_that_is_merged_later_keeps_one_hop(gql: GraphQLClient, world: World, mongo: Mongo) -> None:
    a, b, c = [node_id((await upsert(gql, email=f"{n}@example.com"))["customer"]["id"]) for n in "abc"]
    await merge(gql, b, a)
    await merge(gql, c, b)

    assert {doc["_id"]: doc["merged_into"] async for doc in mongo.db["customers"].find({"merged_into": {"$exists": True}})} == {
        a: c, b: c,
    }
    assert (await gql.data(READ, {"id": gid("Customer", a)}))["customer"]["id"] == gid("Customer", c)


async def test_merge_refusals_are_typed_and_write_nothing(
    gql: GraphQLClient, world: World, mongo: Mongo
) -> None:
    ada = node_id((await upsert(gql, **ADA))["customer"]["id"])
    clash = node_id((await upsert(gql, email="a2@example.com", identities=[{"channel": "amazon", "externalId": "AMZ-OTHER"}]))["customer"]["id"])
    gone = node_id((await upsert(gql, email="gone@example.com"))["customer"]["id"])
    keeper = node_id((await upsert(gql, email="keeper@example.com"))["customer"]["id"])
    await merge(gql, keeper, gone)
    missing = "0" * 24
    before = await fingerprint(mongo)

    cases = [
        ((ada, clash, "dupe"), "ConflictError", "CONFLICT", ["mergedId"], "amazon"),
        ((ada, ada, "dupe"), "InvalidInputError", "INVALID_INPUT", ["mergedId"], "itself"),
        ((missing, ada, "dupe"), "NotFoundError", "NOT_FOUND", ["survivorId"], "no such customer"),
        ((ada, missing, "dupe"), "NotFoundError", "NOT_FOUND", ["mergedId"], "no such customer"),
        ((ada, gone, "dupe"), "ConflictError", "CONFLICT", ["mergedId"], "already merged"),
        ((gone, ada, "dupe"), "ConflictError", "CONFLICT", ["survivorId"], "already merged"),
        ((ada, keeper, " "), "InvalidInputError", "INVALID_INPUT", ["reason"], "audit"),
    ]
    for (survivor, merged, reason), typename, code, field, words in cases:
        result = await merge(gql, survivor, merged, reason)
        assert (result["__typename"], result["code"], result["field"]) == (typename, code, field), result
        assert words in result["message"], result
    assert await fingerprint(mongo) == before


async def test_a_merged_customer_with_more_orders_than_one_transaction_may_move_is_refused(
    gql: GraphQLClient, world: World, mongo: Mongo
) -> None:
    survivor, merged = [node_id((await upsert(gql, email=f"{n}@example.com"))["customer"]["id"]) for n in "ab"]
    await mongo.db["orders"].insert_many([
        {"customer_id": merged, "channel_id": "web", "external_id": f"BULK-{n}", "status": "DELIVERED", "version": 1}
        for n in range(MAX_MERGED_ORDERS + 1)
    ])
    before = await fingerprint(mongo)

    result = await merge(gql, survivor, merged)

    assert (result["__typename"], result["field"]) == ("ConflictError", ["mergedId"])
    assert f"{MAX_MERGED_ORDERS}" in result["message"]
    assert await fingerprint(mongo) == before
