"""upsertProducts and products(filter): validation with item paths, all-or-nothing batches, audit
events, idempotent re-runs, barcodes, search and pages, discontinued SKUs at capture, and roles."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from pymongo import monitoring

from app.asgi import create_app
from app.domain.errors import InvalidInput
from app.domain.gtin import gtin14, gtin_problem
from app.domain.pagination import PageRequest
from app.domain.principals import Principal, Role
from app.domain.products import Dimensions, HandlingFlag, Product, ProductDraft, ProductFilter, validate_product
from app.repositories.database import Mongo, connect
from app.repositories.events import EventRepository
from app.repositories.products import ProductRepository, filter_query
from app.services.container import Services
from app.services.products import ProductService
from app.settings import Settings
from tests.conftest import GraphQLClient, lifespan_of
from tests.factories import World
from tests.order_helpers import CAPTURE, capture_input, network

pytestmark = pytest.mark.usefixtures("reservations_consistent")

ERRORS = "... on Error { __typename code message field } ... on InvalidInputError { issues { code field message } }"
PRODUCT = "sku name price { cents currency } weightGrams dimensions { lengthCm widthCm heightCm } handling barcode category active"
UPSERT = f"""
mutation($input: UpsertProductsInput!) {{
  upsertProducts(input: $input) {{
    __typename
    ... on UpsertProductsPayload {{ created updated unchanged products {{ {PRODUCT} }} }}
    {ERRORS}
  }}
}}
"""
ONE = f"query($sku: String!) {{ product(sku: $sku) {{ {PRODUCT} }} }}"
PAGE = """
query($filter: ProductFilterInput, $first: Int, $after: String) {
  products(filter: $filter, first: $first, after: $after) {
    edges { cursor node { sku } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
  }
}
"""

EAN13 = "4006381333931"
UPC_A = "036000291452"  # the same GTIN as EAN-13 0036000291452
EAN8 = "96385074"
GTIN14 = "10012345678902"


def item(sku: str, **overrides: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "sku": sku,
        "name": f"Blue Mug {sku}",
        "priceCents": 1299,
        "weightGrams": 350,
        "dimensions": {"lengthCm": 12, "widthCm": 9, "heightCm": 10},
    }
    return {**value, **overrides}


async def upsert(gql: GraphQLClient, *items: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
    data = await gql.data(UPSERT, {"input": {"products": list(items), "reason": reason}})
    result: dict[str, Any] = data["upsertProducts"]
    return result


async def skus(gql: GraphQLClient, filter: dict[str, Any] | None = None, first: int = 20) -> list[str]:  # noqa: A002
    page = (await gql.data(PAGE, {"filter": filter, "first": first}))["products"]
    return [edge["node"]["sku"] for edge in page["edges"]]


async def _token(services: Services, role: Role, **scope: Any) -> str:
    _, token = await services.auth.create_api_key(name=f"test-{role.value.lower()}", role=role, **scope)
    return token


def draft(**overrides: Any) -> ProductDraft:
    value: dict[str, Any] = {
        "sku": "SKU-1",
        "name": "Mug",
        "price_cents": 1000,
        "weight_grams": 300,
        "dimensions": Dimensions(10, 8, 9),
    }
    return ProductDraft(**{**value, **overrides})


# --- the pure rules --------------------------------------------------------------------------------


def test_gtins_of_every_length_are_checked_by_their_check_digit() -> None:
    for good in (EAN8, UPC_A, EAN13, GTIN14):
        assert gtin_problem(good) is None, good
    assert "check digit" in (gtin_problem("4006381333932") or "")
    assert "8, 12, 13 or 14" in (gtin_problem("1234567") or "")
    assert "digits only" in (gtin_problem("40063813339X1") or "")
    assert gtin14(UPC_A) == gtin14("0" + UPC_A) == "00036000291452"


def test_one_draft_is_validated_with_paths_relative_to_the_item() -> None:
    product = validate_product(draft(sku=" SKU-1 ", handling=("FRAGILE", "FRAGILE"), barcode=EAN13, currency="eur"))
    assert isinstance(product, Product)
    assert (product.sku, product.price.currency, product.handling, product.barcode) == ("SKU-1", "EUR", frozenset({HandlingFlag.FRAGILE}), EAN13)

    issues = validate_product(
        draft(
            sku="SKU 1",
            name=" ",
            price_cents=-1,
            weight_grams=0,
            dimensions=Dimensions(0, 8, float("inf")),
            handling=("FRAGILE", "GLASS"),
            barcode="4006381333932",
            currency="EURO",
        )
    )
    assert not isinstance(issues, Product)
    assert sorted(issue.field for issue in issues) == [
        ("barcode",), ("currency",), ("dimensions", "heightCm"), ("dimensions", "lengthCm"), ("handling", "1"),
        ("name",), ("priceCents",), ("sku",), ("weightGrams",),
    ]
    # What an import row may lack or get wrong beyond what GraphQL's types already prevent.
    row = validate_product(draft(sku=None, dimensions=None, price_cents="12.99", active="yes"))
    assert not isinstance(row, Product)
    assert sorted(issue.field for issue in row) == [("active",), ("dimensions",), ("priceCents",), ("sku",)]


# --- upsertProducts --------------------------------------------------------------------------------


async def test_admin_creates_a_batch_and_every_product_is_audited(gql: GraphQLClient, mongo: Mongo) -> None:
    result = await upsert(
        gql,
        item("MUG-1", barcode=EAN13, handling=["FRAGILE"], category="Kitchen"),
        item("MUG-2", currency="eur"),
        item("MUG-3", active=False),
        reason="day-one catalogue",
    )
    assert result["__typename"] == "UpsertProductsPayload"
    assert (result["created"], result["updated"], result["unchanged"]) == (3, 0, 0)
    assert [p["sku"] for p in result["products"]] == ["MUG-1", "MUG-2", "MUG-3"]

    stored = (await gql.data(ONE, {"sku": "MUG-1"}))["product"]
    assert stored == {
        "sku": "MUG-1", "name": "Blue Mug MUG-1", "price": {"cents": 1299, "currency": "USD"}, "weightGrams": 350,
        "dimensions": {"lengthCm": 12.0, "widthCm": 9.0, "heightCm": 10.0}, "handling": ["FRAGILE"],
        "barcode": EAN13, "category": "Kitchen", "active": True,
    }
    assert (await gql.data(ONE, {"sku": "MUG-2"}))["product"]["price"]["currency"] == "EUR"

    events = await mongo.db.events.find({"aggregate_type": "Product"}).sort("_id", 1).to_list()
    assert [(e["type"], e["aggregate_id"], e["sku"]) for e in events] == [
        ("ProductCreated", "MUG-1", "MUG-1"), ("ProductCreated", "MUG-2", "MUG-2"), ("ProductCreated", "MUG-3", "MUG-3")
    ]
    assert all(e["actor"] == {"subject": "apikey:test-admin", "role": "ADMIN"} for e in events)
    assert all(e["reason"] == "day-one catalogue" for e in events)
    assert events[0]["payload"]["product"]["barcode"] == EAN13
    assert events[2]["payload"]["product"]["active"] is False


async def test_one_bad_item_refuses_the_whole_batch_and_names_every_issue(gql: GraphQLClient, mongo: Mongo) -> None:
    result = await upsert(
        gql,
        item("OK-1"),
        item("BAD-1", barcode="4006381333932", priceCents=-5, dimensions={"lengthCm": 0, "widthCm": 9, "heightCm": 10}),
        item("OK-1", name=""),
        item("OK-4", barcode=EAN13),
        item("OK-5", barcode="0" + EAN13),  # the same GTIN as item 3, in its GTIN-14 form
    )
    assert (result["__typename"], result["code"]) == ("InvalidInputError", "INVALID_INPUT")
    assert sorted(tuple(issue["field"]) for issue in result["issues"]) == [
        ("products", "1", "barcode"),
        ("products", "1", "dimensions", "lengthCm"),
        ("products", "1", "priceCents"),
        ("products", "2", "name"),
        ("products", "2", "sku"),
        ("products", "4", "barcode"),
    ]
    duplicate = next(i for i in result["issues"] if i["field"] == ["products", "2", "sku"])
    assert duplicate["message"] == "SKU OK-1 is also item 0"
    assert await mongo.db.products.count_documents({}) == 0
    assert await mongo.db.events.count_documents({}) == 0

    for empty in ([], [item(f"X-{n}") for n in range(501)]):
        refused = await gql(UPSERT, {"input": {"products": empty}})
        answer = refused["errors"][0]["extensions"] if refused.get("errors") else refused["data"]["upsertProducts"]
        assert answer["code"] == "INVALID_INPUT", refused
    assert await mongo.db.products.count_documents({}) == 0


async def test_a_full_batch_of_500_is_one_transaction(gql: GraphQLClient, mongo: Mongo) -> None:
    batch = [{"sku": f"B-{n:03d}", "name": "Tea", "priceCents": 100, "weightGrams": 50,
              "dimensions": {"lengthCm": 5, "widthCm": 5, "heightCm": 5}} for n in range(500)]
    data = await gql.data(
        "mutation($input: UpsertProductsInput!) { upsertProducts(input: $input) { ... on UpsertProductsPayload { created } } }",
        {"input": {"products": batch}},
    )
    assert data["upsertProducts"]["created"] == 500
    assert await mongo.db.events.count_documents({"type": "ProductCreated"}) == 500


class _Writes(monitoring.CommandListener):
    """Write commands per collection: proves an unchanged batch writes nothing at all."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in {"insert", "update", "delete"}:
            self.counts[event.command[event.command_name]] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_a_rerun_writes_nothing_and_a_change_is_one_event_with_its_diff(mongodb_uri: str, mongo: Mongo) -> None:
    writes = _Writes()
    watched = Mongo(connect(mongodb_uri, event_listeners=[writes]), mongo.db.name)
    try:
        service = ProductService(mongo=watched, products=ProductRepository(watched.db), events=EventRepository(watched.db))
        admin = Principal(subject="cli:import", role=Role.ADMIN)
        batch = [p for p in (validate_product(draft(sku=f"SKU-{n}", barcode=b)) for n, b in ((1, EAN13), (2, None))) if isinstance(p, Product)]
        first = await service.write_batch(admin, batch)
        assert (first.created, first.updated, first.unchanged) == (("SKU-1", "SKU-2"), (), ())

        writes.counts.clear()
        again = await service.write_batch(admin, batch)
        assert (again.created, again.updated, again.unchanged) == ((), (), ("SKU-1", "SKU-2"))
        assert writes.counts == Counter(), f"an unchanged batch wrote: {writes.counts}"

        dearer = validate_product(draft(sku="SKU-2", price_cents=1500))
        assert isinstance(dearer, Product)
        changed = await service.write_batch(admin, [batch[0], dearer], reason="price rise")
        assert (changed.updated, changed.unchanged) == (("SKU-2",), ("SKU-1",))
    finally:
        await watched.close()
    updated = await mongo.db.events.find({"type": "ProductUpdated"}).to_list()
    assert [(e["sku"], e["payload"], e["reason"], e["actor"]["subject"]) for e in updated] == [
        ("SKU-2", {"changes": {"priceCents": {"before": 1000, "after": 1500}}}, "price rise", "cli:import")
    ]
    assert await mongo.db.events.count_documents({"aggregate_type": "Product"}) == 3


async def test_a_barcode_belongs_to_one_product_and_may_move_within_a_batch(gql: GraphQLClient, mongo: Mongo) -> None:
    await upsert(gql, item("A", barcode=UPC_A), item("B", barcode=EAN8))
    taken = await upsert(gql, item("C", barcode="0" + UPC_A))  # the EAN-13 spelling of A's UPC-A
    assert taken["__typename"] == "InvalidInputError"
    assert [(i["field"], i["message"]) for i in taken["issues"]] == [
        (["products", "0", "barcode"], f"barcode 0{UPC_A} already belongs to A")
    ]
    assert await mongo.db.products.count_documents({"_id": "C"}) == 0

    swapped = await upsert(gql, item("A", barcode=EAN8), item("B", barcode=UPC_A))
    assert (swapped["__typename"], swapped["updated"]) == ("UpsertProductsPayload", 2)
    assert (await gql.data(ONE, {"sku": "B"}))["product"]["barcode"] == UPC_A
    assert await skus(gql, {"search": "0" + UPC_A}) == ["B"]


async def test_discontinuing_keeps_history_and_capture_refuses_the_sku(gql: GraphQLClient, world: World, mongo: Mongo) -> None:
    await network(world)
    placed = (await gql.data(CAPTURE, {"input": capture_input("W-1")}))["captureOrder"]
    assert placed["__typename"] == "CaptureOrderPayload"

    stop = await upsert(gql, item("SKU-1", name="Product SKU-1", priceCents=1000, weightGrams=500,
                                  dimensions={"lengthCm": 20, "widthCm": 15, "heightCm": 10}, active=False))
    assert (stop["created"], stop["updated"]) == (0, 1)
    assert (await gql.data(ONE, {"sku": "SKU-1"}))["product"]["active"] is False
    event = await mongo.db.events.find_one({"type": "ProductUpdated"})
    assert event is not None and event["payload"] == {"changes": {"active": {"before": True, "after": False}}}

    refused = (await gql.data(CAPTURE, {"input": capture_input("W-2")}))["captureOrder"]
    assert refused["__typename"] == "InvalidInputError"
    assert [(i["code"], i["field"]) for i in refused["issues"]] == [("UNKNOWN_SKU", ["lines", "0", "sku"])]
    assert "no longer sold" in refused["issues"][0]["message"]
    assert await mongo.db.orders.count_documents({}) == 1
    # The order captured before still shows its line; stock of the SKU is still there.
    order = await mongo.db.orders.find_one({"external_id": "W-1"})
    assert order is not None and order["lines"][0]["sku"] == "SKU-1"
    assert await mongo.db.inventory.count_documents({"sku": "SKU-1"}) == 2


# --- products(filter, first, after) ---------------------------------------------------------------


async def _catalogue(gql: GraphQLClient) -> None:
    result = await upsert(
        gql,
        item("MUG-BLU", name="Blue Mug, Stoneware", category="Kitchen", handling=["FRAGILE"], barcode=EAN13),
        item("MUG-RED", name="Red Mug", category="Kitchen", handling=["FRAGILE"]),
        item("TEA-GRN", name="Green Tea 100 bags", category="Pantry", barcode=UPC_A),
        item("ICE-PCK", name="Ice Pack", category="Outdoor", handling=["COLD_CHAIN"]),
        item("OLD-MUG", name="Blue Mug (2019)", category="Kitchen", active=False),
        item("CAMP-STOVE", name="Camping Stove", category="Outdoor", handling=["HAZMAT", "OVERSIZE"]),
    )
    assert result["created"] == 6


async def test_products_are_found_by_sku_prefix_barcode_and_name_words(gql: GraphQLClient) -> None:
    await _catalogue(gql)
    assert await skus(gql) == ["CAMP-STOVE", "ICE-PCK", "MUG-BLU", "MUG-RED", "OLD-MUG", "TEA-GRN"]
    assert await skus(gql, {"search": "mug-"}) == ["MUG-BLU", "MUG-RED"]  # SKU prefix, any case
    assert await skus(gql, {"search": EAN13}) == ["MUG-BLU"]  # barcode, exactly
    assert await skus(gql, {"search": "0" + UPC_A}) == ["TEA-GRN"]  # the same GTIN spelled as EAN-13
    assert await skus(gql, {"search": "blu mu"}) == ["MUG-BLU", "OLD-MUG"]  # every word starts a name word
    assert await skus(gql, {"search": "STONE"}) == ["MUG-BLU"]
    assert await skus(gql, {"search": "blue tea"}) == []
    assert await skus(gql, {"search": ".*"}) == []  # a literal, never a pattern


async def test_products_are_filtered_by_status_category_and_handling(gql: GraphQLClient) -> None:
    await _catalogue(gql)
    assert await skus(gql, {"active": False}) == ["OLD-MUG"]
    assert await skus(gql, {"category": "Kitchen", "active": True}) == ["MUG-BLU", "MUG-RED"]
    assert await skus(gql, {"handling": "FRAGILE"}) == ["MUG-BLU", "MUG-RED"]
    assert await skus(gql, {"handling": "HAZMAT", "category": "Outdoor"}) == ["CAMP-STOVE"]
    assert await skus(gql, {"search": "mug", "active": True}) == ["MUG-BLU", "MUG-RED"]


async def test_products_page_by_sku_with_cursors(gql: GraphQLClient) -> None:
    await _catalogue(gql)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = (await gql.data(PAGE, {"first": 4, "after": after, "filter": {"active": True}}))["products"]
        seen += [edge["node"]["sku"] for edge in page["edges"]]
        pages += 1
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert (pages, seen) == (2, ["CAMP-STOVE", "ICE-PCK", "MUG-BLU", "MUG-RED", "TEA-GRN"])
    too_many = await gql(PAGE, {"first": 101})
    assert too_many["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_text_search_is_served_by_indexes(gql: GraphQLClient, mongo: Mongo) -> None:
    await _catalogue(gql)
    for search in ("mug", "blu mu", EAN13, "SKU-"):
        plan = await mongo.db.products.find(filter_query(ProductFilter(search=search))).sort("_id", 1).explain()
        stages = str(plan["queryPlanner"]["winningPlan"])
        assert "COLLSCAN" not in stages, (search, stages)


# --- who may ---------------------------------------------------------------------------------------


async def test_only_admins_upsert_and_everyone_signed_in_reads(
    gql: GraphQLClient, services: Services, mongo: Mongo
) -> None:
    for role, scope in [
        (Role.CSR, {}),
        (Role.STORE_STAFF, {"location_ids": frozenset({"ST-BOS"})}),
        (Role.WAREHOUSE, {"location_ids": frozenset({"DC-1"})}),
        (Role.CHANNEL, {"channel_id": "web"}),
    ]:
        caller = gql.as_(await _token(services, role, **scope))
        result = (await caller.data(UPSERT, {"input": {"products": [item("NOPE")]}}))["upsertProducts"]
        assert (result["__typename"], result["code"]) == ("PermissionDeniedError", "FORBIDDEN"), role
    assert await mongo.db.products.count_documents({}) == 0
    assert await mongo.db.events.count_documents({}) == 0

    await upsert(gql, item("MUG-1"))
    customer = await services.auth.create_api_key(name="shopper", role=Role.CUSTOMER, customer_id="c1")
    assert await skus(gql.as_(customer[1])) == ["MUG-1"]
    anonymous = await gql.as_(None)(PAGE)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_write_batch_refuses_non_admins_and_bad_batches(services: Services) -> None:
    mug = validate_product(draft())
    assert isinstance(mug, Product)
    with pytest.raises(Exception) as denied:
        await services.products.write_batch(Principal(subject="x", role=Role.CSR), [mug])
    assert getattr(denied.value, "code", None) == "FORBIDDEN"
    with pytest.raises(InvalidInput) as twice:
        await services.products.write_batch(Principal(subject="x", role=Role.ADMIN), [mug, mug])
    assert [issue.field for issue in twice.value.issues] == [("products", "1", "sku")]


async def test_products_stored_before_search_existed_are_made_searchable_at_start_up(settings: Settings, mongo: Mongo) -> None:
    # Given a product written without search terms, as every version before product search wrote them
    await mongo.db["products"].insert_one(
        {"_id": "OLD-KETTLE", "name": "Copper Kettle", "price": {"cents": 4500, "currency": "USD"}, "weight_grams": 900,
         "dimensions": {"length_cm": 20, "width_cm": 20, "height_cm": 25}, "handling": [], "active": True}
    )
    service = ProductService(mongo=mongo, products=ProductRepository(mongo.db), events=EventRepository(mongo.db))
    assert (await service.page(ProductFilter(search="kettle"), PageRequest(first=10))).items == []

    # When a server starts on the database
    async with lifespan_of(create_app(settings)):
        pass

    # Then search finds it, and a second start has nothing left to do
    assert [p.sku for p in (await service.page(ProductFilter(search="kettle"), PageRequest(first=10))).items] == ["OLD-KETTLE"]
    assert await service.index_unsearchable() == 0
