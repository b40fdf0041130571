"""The fast path for plain attribute fields answers exactly what graphql-core's standard path does:
same data in the same order, same errors at the same paths, null bubbling included."""

from __future__ import annotations

import json
from datetime import date
from enum import Enum
from typing import Any

import pytest
import strawberry
from strawberry import relay
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.repositories.database import Mongo
from app.services.demo_seed import SeedSize, seed_demo
from graphql_schema.execution import OmsExecutionContext
from graphql_schema.schema import schema as oms_schema
from tests.conftest import GraphQLClient


@strawberry.enum
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Price:
    amount: int
    currency: str


@strawberry.type
class Shop(relay.Node):
    """A relay node: Strawberry gives it an `is_type_of` check and an `id` resolver."""

    code: relay.NodeID[str]
    city: str


class PopUpShop(Shop):
    """Not the type's own class: its values take the standard completion."""


SHOPS = {"s1": Shop(code="s1", city="Boston"), "s2": PopUpShop(code="s2", city="Salem")}


@strawberry.type
class Item:
    name: str
    colour: Colour
    made: date | None
    price: Price
    discount: Price | None
    tags: list[str]

    @strawberry.field
    def broken(self) -> int | None:
        raise ValueError("boom")

    @strawberry.field
    async def later_strict(self) -> int:
        raise ValueError("late boom")

    # Plain synchronous resolvers of the source (and info): called straight by the fast path.
    @strawberry.field
    def shop(self) -> Shop | None:
        return SHOPS.get(self.name.replace("i", "s"))

    @strawberry.field
    def strict_shop(self, info: strawberry.Info) -> Shop:
        return SHOPS.get({"i1": "s1", "i2": "s2", "s1": "s1"}.get(self.name, "none"))  # type: ignore[return-value]

    @strawberry.field
    def where(self, info: strawberry.Info) -> str:
        return ".".join(str(key) for key in info.path.as_list()) + f"@{info.field_name}"

    @strawberry.field
    def shop_later(self) -> Shop | None:
        async def load() -> Shop | None:
            return SHOPS.get("s1")

        return load()  # type: ignore[return-value]


@strawberry.type
class Box:
    label: str
    item: Item | None
    strict: Item
    # Lists of objects held in plain attributes: their items complete straight.
    contents: list[Item | None]
    shops: list[Shop]
    strict_contents: list[Item] | None


def item(name: str, *, currency: Any = "EUR", colour: Any = Colour.RED, discount: Price | None = None) -> Item:
    return Item(
        name=name,
        colour=colour,
        made=date(2026, 11, 1) if name.endswith("1") else None,
        price=Price(amount=100, currency=currency),
        discount=discount,
        tags=["a", name],
    )


def box(label: str, item: Item | None, strict: Item, **lists: Any) -> Box:
    contents = [item, None] if item else []
    return Box(label=label, item=item, strict=strict, contents=contents, **{"shops": [SHOPS["s1"]], "strict_contents": None, **lists})


BOXES = [
    box("fine", item("i1", discount=Price(amount=5, currency="EUR")), item("s1")),
    # A null in a non-null leaf: the error bubbles up to the nullable `item`, then the box survives.
    box("null leaf", item("i2", currency=None), item("s2")),
    # An enum value that is not one: not coercible, same error either way.
    box("bad enum", item("i3", colour="GREEN"), item("s3")),
    # A null leaf under the non-null `strict`: the whole box becomes null.
    box("bubbles", None, item("s4", currency=None)),
    # Lists: a subclass among relay nodes (standard completion for that item), a null leaf in an
    # item of a list of non-null items (the whole list becomes null), one that bubbles to the box.
    box("lists", item("i5"), item("s5"), shops=[SHOPS["s1"], SHOPS["s2"]], strict_contents=[item("i6"), item("i7", currency=None)]),
    box("null item", item("i8"), item("s8"), shops=[SHOPS["s1"], None]),  # type: ignore[list-item]
]


@strawberry.type
class Query:
    @strawberry.field
    def boxes(self) -> list[Box | None]:
        return BOXES

    @strawberry.field
    async def later(self) -> Box:
        return BOXES[0]

    @strawberry.field
    def lone(self) -> Item | None:
        return item("i9")


@strawberry.type
class Mutation:
    @strawberry.mutation
    def repack(self) -> Box:
        return BOXES[1]


MUTATION = "mutation { repack { label item { name price { currency } } strict { name colour } } }"

QUERY = """
fragment I on Item { name colour made price { amount currency } discount { amount } tags broken
  shop { id city } strictShop { id city } where shopLater { id } }
query {
  boxes { label first: item { ...I } strict { name price { currency } } __typename
          contents { name colour price { amount currency } laterStrict shop { city } }
          shops { id city } strictContents { name price { currency } }
          again: item @include(if: true) { name } skipped: item @skip(if: true) { name } }
  later { label item { ...I } other: item { name laterStrict } }
  lone { name strictShop { id } }
}
"""


class CountingStandard(StrawberryGraphQLCoreExecutionContext):
    infos = 0

    def build_resolve_info(self, *args: Any) -> Any:
        type(self).infos += 1
        return super().build_resolve_info(*args)


class CountingFast(OmsExecutionContext):
    infos = 0

    def build_resolve_info(self, *args: Any) -> Any:
        type(self).infos += 1
        return super().build_resolve_info(*args)


def ordered(result: Any) -> str:
    """Data and errors as JSON, key order included (dict equality would ignore it)."""
    errors = sorted(
        ({"message": e.message, "path": e.path, "locations": [(loc.line, loc.column) for loc in e.locations or ()]} for e in result.errors or ()),
        key=json.dumps,
    )
    return json.dumps({"data": result.data, "errors": errors})


async def test_same_data_errors_and_order_as_the_standard_path() -> None:
    standard = strawberry.Schema(query=Query, mutation=Mutation, execution_context_class=CountingStandard)
    fast = strawberry.Schema(query=Query, mutation=Mutation, execution_context_class=CountingFast)
    # Mutations run their root fields one by one, not through execute_fields.
    assert ordered(await fast.execute(MUTATION)) == ordered(await standard.execute(MUTATION))
    expected = await standard.execute(QUERY)
    got = await fast.execute(QUERY)
    assert ordered(got) == ordered(expected)
    # The cases above really happen: bubbling to `item`, to the box, a bad enum, a resolver error.
    assert got.data["boxes"][1]["first"] is None and got.data["boxes"][3] is None
    lists = got.data["boxes"][4]
    assert lists["strictContents"] is None and lists["shops"][1] == {"id": relay.to_base64("Shop", "s2"), "city": "Salem"}
    assert got.data["boxes"][0]["contents"][1] is None and got.data["boxes"][5] is None
    assert {tuple(e.path[:3]) for e in got.errors} >= {("boxes", 1, "first"), ("boxes", 2, "first"), ("boxes", 3, "strict")}
    assert any(e.message == "boom" for e in got.errors)
    assert got.data["later"]["other"] is None  # an awaited error under a fast-path object
    assert any(e.message == "late boom" and e.path == ["later", "other", "laterStrict"] for e in got.errors)
    # Resolvers called straight: relay ids, info as the standard path gives it, a subclass, an
    # awaitable, and a null for a non-null object bubbling to the nullable item.
    fine = got.data["boxes"][0]["first"]
    assert fine["shop"] == {"id": relay.to_base64("Shop", "s1"), "city": "Boston"}
    assert fine["where"] == "boxes.0.first.where@where" and fine["shopLater"] == {"id": relay.to_base64("Shop", "s1")}
    assert got.data["boxes"][1]["strict"] is not None and got.data["later"]["item"]["shop"]["city"] == "Boston"
    assert got.data["boxes"][2]["first"] is None  # the bad enum, as before
    assert got.data["lone"] is None and any(e.path == ["lone", "strictShop"] for e in got.errors)
    # ...and the fast path is taken: far fewer resolve infos are built.
    assert CountingFast.infos < CountingStandard.infos / 3


@pytest.fixture
async def seeded(mongo: Mongo) -> None:
    await seed_demo(mongo, SeedSize(locations=12, skus=40, customers=20, orders=60), seed=11, as_of=date(2026, 11, 1))


ORDERS_PAGE = """query($first: Int) {
  orders(first: $first) {
    edges { cursor node {
      id externalId status createdAt updatedAt notes itemCount version channelCode releaseAt
      channel { name kind }
      customer { displayName email phone }
      delivery { method requestedDate address { line1 city postalCode country } pickupLocation { name } }
      totals { subtotal { amount } shipping { amount } tax { amount } total { amount currency } }
      lines { sku name quantity unitPrice { amount } product { name weightGrams } }
      hold { reason }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def test_an_orders_page_over_http_is_byte_for_byte_the_same(
    seeded: None, gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = await gql.post(ORDERS_PAGE, {"first": 100})
    monkeypatch.setattr(oms_schema, "execution_context_class", StrawberryGraphQLCoreExecutionContext)
    standard = await gql.post(ORDERS_PAGE, {"first": 100})
    assert len(fast.json()["data"]["orders"]["edges"]) == 60
    without_cost = [{k: v for k, v in json.loads(r.text).items() if k != "extensions"} for r in (fast, standard)]
    assert json.dumps(without_cost[0]) == json.dumps(without_cost[1])
