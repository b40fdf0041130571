"""The authorization table: one row per operation (or leak path), the outcome expected for every
caller. `tests/test_authorization.py` runs every row for every caller against a real app; the
rows are what docs/SECURITY.md cites.

To cover a new operation, add a Row: its GraphQL document, how to build its variables against the
seeded world (`Seed`; called once per caller, so a mutation can get a fresh target each time), and
the expected outcome per caller. Callers missing from `expect` are expected to be DENIED;
ANONYMOUS is always expected to be DENIED (UNAUTHENTICATED).

Outcomes:
- ALLOW: no errors; the root field is non-null (for a mutation: its success payload); `check`
  (if any) holds for the data.
- HIDE: no errors, but nothing to see (null, or an empty list/connection): the caller cannot
  tell a hidden object from a missing one.
- DENY: a typed error (FORBIDDEN, UNAUTHENTICATED or NOT_FOUND, top-level or as the mutation's
  error member; exactly `codes[caller]` when given) and nothing written.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from app.domain.customers import Customer
from app.domain.ids import new_id
from app.domain.orders import Allocation, AllocationStatus, Delivery, DeliveryMethod, Hold, Order, OrderStatus
from app.domain.shipments import Shipment
from tests.factories import T0, customer, order

ALLOW, HIDE, DENY = "ALLOW", "HIDE", "DENY"
CALLERS = ("ADMIN", "CSR", "STORE_STAFF", "WAREHOUSE", "CHANNEL", "CUSTOMER", "ANONYMOUS")
STAFF_ROLES = ("ADMIN", "CSR", "STORE_STAFF", "WAREHOUSE", "CHANNEL", "CUSTOMER")


def gid(type_name: str, node_id: str) -> str:
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


@dataclass
class Seed:
    """The world every row runs against (tests/test_authorization.py builds it):
    stores ST-A and ST-B, warehouse DC-A; customers ada (web) and bob (amazon);
    order A1 (ada, web, reserved at ST-A) and B1 (bob, amazon, reserved at ST-B).
    The STORE_STAFF caller works at ST-A, WAREHOUSE at DC-A, CHANNEL is `web`, CUSTOMER is ada.
    Shipments only exist once a row asks for them (`shipments`, `place`), so other rows stay as cheap as before."""

    ada: str
    bob: str
    a1: Order
    b1: Order
    add_order: Callable[[Order], Any]  # async: writes a fresh order for a mutation to act on
    # A1's shipment (at ST-A) and B1's (at ST-B), by order external id; made by the real sync on first use.
    shipments: Callable[[], Awaitable[dict[str, Shipment]]]
    # (location, *, pickup_at=None, stage=PENDING, also_at=()) → a fresh ada/web order of 1 × SKU-1 allocated and
    # reserved there (plus 1 more per `also_at` location), its shipment at `location` synced and worked up to `stage`.
    place: Callable[..., Awaitable[Shipment]]
    # Delivered orders and returns in a given state, made per caller (tests/authz_returns.py ReturnsSeed).
    returns: Any = None
    add_customer: Callable[[Customer], Awaitable[None]] | None = None  # async: writes a fresh customer

    async def fresh_order(self, *, customer_id: str | None = None, channel_id: str = "web", held: bool = False) -> Order:
        made = order(customer_id or self.ada, channel_id=channel_id, status=OrderStatus.CREATED, created_at=T0)
        if held:
            made = replace(made, status=OrderStatus.ON_HOLD, hold=Hold("check", "test", T0, OrderStatus.CREATED))
        await self.add_order(made)
        return made


Variables = Callable[[Seed], Any]  # sync or async; returns the variables dict


@dataclass(frozen=True)
class Row:
    name: str
    group: str
    query: str
    expect: Mapping[str, str]
    variables: Variables = lambda seed: {}  # noqa: E731
    check: Callable[[Any, Seed, str], bool] | None = None  # (root field value, seed, caller) → holds?
    codes: Mapping[str, str] = field(default_factory=dict)  # caller → the one denial code expected (else any)
    tags: tuple[str, ...] = field(default=())


def everyone(outcome: str = ALLOW, **overrides: str) -> dict[str, str]:
    return {**{role: outcome for role in STAFF_ROLES}, **overrides}


def _ids(connection: Any) -> set[str]:
    return {edge["node"]["externalId"] for edge in connection["edges"]}


def _own_orders_only(value: Any, seed: Seed, caller: str) -> bool:
    expected = {
        "ADMIN": {"A1", "B1"}, "CSR": {"A1", "B1"}, "STORE_STAFF": {"A1"}, "WAREHOUSE": set(),
        "CHANNEL": {"A1"}, "CUSTOMER": {"A1"},
    }[caller]
    return _ids(value) == expected


_ERR = "__typename ... on Error { code message field }"
_MUTATION = "mutation($input: %s!) { %s(input: $input) { " + _ERR + " } }"


def mutation(name: str, input_type: str) -> str:
    return _MUTATION % (input_type, name)


async def _fresh(seed: Seed, **kw: Any) -> dict[str, Any]:
    made = await seed.fresh_order(**kw)
    return {"input": {"orderId": gid("Order", made.id), "reason": "authz test"}}


def _capture(channel: str, email: str | None = "new.buyer@example.com") -> Variables:
    def build(seed: Seed) -> dict[str, Any]:
        return {
            "input": {
                "channel": channel,
                "externalId": f"AZ-{new_id()}",
                "lines": [{"sku": "SKU-1", "quantity": 1}],
                "delivery": {
                    "method": "SHIP",
                    "address": {"line1": "1 Main St", "city": "Boston", "postalCode": "02108"},
                    "point": {"lat": 42.36, "lng": -71.06},
                },
                "customer": {"email": email} if email else None,
            }
        }

    return build


ROWS: list[Row] = [
    # --- reference data and public stock -------------------------------------------------------
    Row("channels", "reference data", "{ channels { code } }", everyone()),
    Row("locations", "reference data", "{ locations { code } }", everyone()),
    Row("product", "reference data", '{ product(sku: "SKU-1") { sku } }', everyone()),
    Row("products", "reference data", '{ products(first: 5, filter: {search: "sku"}) { edges { node { sku } } } }', everyone()),
    Row(
        "store_availability", "public stock",
        '{ storeAvailability(skus: ["SKU-1"], near: {lat: 42.36, lng: -71.06}, radiusKm: 50) { locationCode } }',
        everyone(),
    ),
    Row("inventory", "stock per location", '{ inventory(sku: "SKU-1") { totals { onHand } } }', everyone(CUSTOMER=DENY)),
    Row(
        "node_inventory_level", "stock per location", "query($id: ID!) { node(id: $id) { id } }",
        everyone(CUSTOMER=HIDE), variables=lambda s: {"id": gid("InventoryLevel", "SKU-1@ST-A")},
    ),
    # --- customers -----------------------------------------------------------------------------
    Row("customers_search", "customer 360", "{ customers(first: 5) { edges { node { id } } } }", {"ADMIN": ALLOW, "CSR": ALLOW}),
    Row(
        "customer_own", "customer 360", "query($id: ID!) { customer(id: $id) { email } }",
        everyone(HIDE, ADMIN=ALLOW, CSR=ALLOW, CUSTOMER=ALLOW), variables=lambda s: {"id": gid("Customer", s.ada)},
    ),
    Row(
        "customer_other", "customer 360", "query($id: ID!) { customer(id: $id) { email } }",
        everyone(HIDE, ADMIN=ALLOW, CSR=ALLOW), variables=lambda s: {"id": gid("Customer", s.bob)},
    ),
    Row(
        "node_customer_other", "customer 360", "query($id: ID!) { node(id: $id) { ... on Customer { email } } }",
        everyone(HIDE, ADMIN=ALLOW, CSR=ALLOW), variables=lambda s: {"id": gid("Customer", s.bob)},
    ),
    Row(
        "customer_nested_orders", "customer 360",
        "query($id: ID!) { customer(id: $id) { orders(first: 10) { edges { node { externalId } } } } }",
        everyone(HIDE, ADMIN=ALLOW, CSR=ALLOW, CUSTOMER=ALLOW), variables=lambda s: {"id": gid("Customer", s.ada)},
        check=lambda v, s, c: _ids(v["orders"]) == {"A1"},
    ),
    Row(
        "upsert_customer_create", "customers: change", mutation("upsertCustomer", "UpsertCustomerInput"),
        {"ADMIN": ALLOW, "CSR": ALLOW},
        variables=lambda s: {"input": {"firstName": "New", "email": f"new-{new_id()}@example.com", "reason": "authz test"}},
    ),
    Row(
        # Even the customer's own record: customers do not edit themselves through this mutation.
        "upsert_customer_update", "customers: change", mutation("upsertCustomer", "UpsertCustomerInput"),
        {"ADMIN": ALLOW, "CSR": ALLOW},
        variables=lambda s: {"input": {"id": gid("Customer", s.ada), "lastName": f"L-{new_id()}", "reason": "authz test"}},
    ),
    Row(
        "merge_customers", "customers: merge", mutation("mergeCustomers", "MergeCustomersInput"),
        {"ADMIN": ALLOW}, variables=lambda s: _merge(s),
    ),
    # --- orders (reads) ------------------------------------------------------------------------
    Row(
        "orders_list_scoped", "orders: read", "{ orders(first: 50) { edges { node { externalId } } } }",
        everyone(), check=_own_orders_only,
    ),
    Row(
        "orders_filter_other_customer", "orders: read",
        "query($f: OrderFilterInput) { orders(filter: $f) { edges { node { externalId } } } }",
        everyone(ADMIN=ALLOW, CSR=ALLOW, CUSTOMER=DENY, CHANNEL=HIDE, STORE_STAFF=HIDE, WAREHOUSE=HIDE),
        variables=lambda s: {"f": {"customerId": gid("Customer", s.bob)}},
        check=lambda v, s, c: _ids(v) == {"B1"},
    ),
    Row(
        "orders_filter_other_channel", "orders: read",
        '{ orders(filter: {channels: ["amazon"]}) { edges { node { externalId } } } }',
        everyone(ADMIN=ALLOW, CSR=ALLOW, CHANNEL=DENY, CUSTOMER=HIDE, STORE_STAFF=HIDE, WAREHOUSE=HIDE),
        check=lambda v, s, c: _ids(v) == {"B1"},
    ),
    Row(
        "orders_filter_other_location", "orders: read",
        '{ orders(filter: {locations: ["ST-B"]}) { edges { node { externalId } } } }',
        everyone(ADMIN=ALLOW, CSR=ALLOW, STORE_STAFF=DENY, WAREHOUSE=DENY, CHANNEL=HIDE, CUSTOMER=HIDE),
        check=lambda v, s, c: _ids(v) == {"B1"},
    ),
    Row(
        "order_in_scope", "orders: read", "query($id: ID!) { order(id: $id) { externalId } }",
        everyone(ALLOW, WAREHOUSE=HIDE), variables=lambda s: {"id": gid("Order", s.a1.id)},
    ),
    Row(
        "order_out_of_scope", "orders: read", "query($id: ID!) { order(id: $id) { externalId } }",
        everyone(HIDE, ADMIN=ALLOW, CSR=ALLOW), variables=lambda s: {"id": gid("Order", s.b1.id)},
    ),
    Row(
        "node_order_out_of_scope", "orders: read", "query($id: ID!) { node(id: $id) { ... on Order { externalId } } }",
        everyone(HIDE, ADMIN=ALLOW, CSR=ALLOW), variables=lambda s: {"id": gid("Order", s.b1.id)},
    ),
    Row(
        "order_by_external_id_out_of_scope", "orders: read",
        '{ orderByExternalId(channel: "amazon", externalId: "B1") { externalId } }',
        everyone(HIDE, ADMIN=ALLOW, CSR=ALLOW),
    ),
    Row(
        # Staff may see an order at their store, but not the customer behind it (nested field).
        "order_nested_customer", "orders: read", "query($id: ID!) { order(id: $id) { customer { email } } }",
        everyone(ALLOW, WAREHOUSE=HIDE), variables=lambda s: {"id": gid("Order", s.a1.id)},
        check=lambda v, s, c: (v["customer"] is not None) == (c in ("ADMIN", "CSR", "CUSTOMER")),
    ),
    Row(
        "order_nested_timeline", "orders: read", "query($id: ID!) { order(id: $id) { timeline { type } } }",
        everyone(HIDE, ADMIN=ALLOW, CSR=ALLOW), variables=lambda s: {"id": gid("Order", s.b1.id)},
    ),
    Row(
        # A pick-up at ST-A filled from DC-A: the store hands it over, so its staff must see it.
        "pickup_order_at_own_store", "orders: read", "query($id: ID!) { order(id: $id) { externalId } }",
        everyone(ALLOW), variables=lambda s: _pickup(s),
    ),
    Row(
        # Seeded: one OrderCaptured per order. Staff see stock events of their locations, not orders'.
        "events_scoped", "events", "{ events(first: 50) { edges { node { aggregateId } } } }",
        everyone(HIDE, ADMIN=ALLOW, CSR=ALLOW, CHANNEL=ALLOW, CUSTOMER=ALLOW),
        check=lambda v, s, c: {e["node"]["aggregateId"] for e in v["edges"]}
        == ({s.a1.id, s.b1.id} if c in ("ADMIN", "CSR") else {s.a1.id}),
    ),
    # --- routing ---------------------------------------------------------------------------------
    Row("routing_policy_global", "routing", "{ routingPolicy { version } }", everyone(CHANNEL=DENY, CUSTOMER=DENY)),
    Row(
        "routing_policy_own_channel", "routing", '{ routingPolicy(channel: "web") { version } }',
        everyone(CUSTOMER=DENY),
    ),
    Row(
        "routing_policy_other_channel", "routing", '{ routingPolicy(channel: "amazon") { version } }',
        everyone(CHANNEL=DENY, CUSTOMER=DENY),
    ),
    Row(
        # The same callers as captureOrder, for the same channel.
        "routing_preview", "routing", "query($input: CaptureOrderInput!) { routingPreview(input: $input) { fullyAllocated } }",
        everyone(STORE_STAFF=DENY, WAREHOUSE=DENY), variables=lambda s: _capture("web")(s),
    ),
    Row(
        "set_routing_policy", "routing", mutation("setRoutingPolicy", "SetRoutingPolicyInput"),
        {"ADMIN": ALLOW},
        variables=lambda s: {
            "input": {"channel": "web", "reason": "authz test", "policy": {"criteria": [{"criterion": "NEAREST", "weight": 1}]}}
        },
    ),
    # --- products and channels (writes) ---------------------------------------------------------
    Row(
        "upsert_products", "reference data: change", mutation("upsertProducts", "UpsertProductsInput"),
        {"ADMIN": ALLOW},
        variables=lambda s: {
            "input": {
                "reason": "authz test",
                "products": [{
                    "sku": f"AZ-{new_id()}", "name": "Authz mug", "priceCents": 999, "weightGrams": 300,
                    "dimensions": {"lengthCm": 10, "widthCm": 8, "heightCm": 9},
                }],
            }
        },
    ),
    Row(
        "upsert_channel", "reference data: change", mutation("upsertChannel", "UpsertChannelInput"),
        {"ADMIN": ALLOW},
        variables=lambda s: {"input": {"code": f"az-{new_id()}", "name": "Authz shop", "kind": "WEB", "reason": "authz test"}},
    ),
    # --- locations (writes) --------------------------------------------------------------------
    Row(
        "upsert_location", "locations: onboarding", mutation("upsertLocation", "UpsertLocationInput"),
        {"ADMIN": ALLOW},
        variables=lambda s: {
            "input": {
                "code": f"ST-AUTHZ-{new_id()[-6:].upper()}", "name": "Authz store", "kind": "STORE",
                "timezone": "America/New_York", "point": {"lat": 42.35, "lng": -71.06},
                "address": {"line1": "1 Main St", "city": "Boston", "postalCode": "02108"},
            }
        },
    ),
    Row(
        # DC-A holds no open allocations in the seed: the ADMIN's call deactivates it.
        "deactivate_location", "locations: onboarding", mutation("deactivateLocation", "DeactivateLocationInput"),
        {"ADMIN": ALLOW},
        variables=lambda s: {"input": {"locationId": gid("Location", "DC-A"), "reason": "authz test"}},
    ),
    Row(
        "reactivate_location", "locations: onboarding", mutation("reactivateLocation", "ReactivateLocationInput"),
        {"ADMIN": ALLOW},
        variables=lambda s: {"input": {"locationId": gid("Location", "ST-B"), "reason": "authz test"}},
    ),
    # --- orders (writes) -----------------------------------------------------------------------
    Row(
        "capture_order_web", "orders: capture", mutation("captureOrder", "CaptureOrderInput"),
        everyone(ADMIN=ALLOW, CSR=ALLOW, CHANNEL=ALLOW, CUSTOMER=ALLOW, STORE_STAFF=DENY, WAREHOUSE=DENY),
        variables=_capture("web"),
    ),
    Row(
        "capture_order_other_channel", "orders: capture", mutation("captureOrder", "CaptureOrderInput"),
        everyone(ADMIN=ALLOW, CSR=ALLOW, CHANNEL=DENY, CUSTOMER=DENY, STORE_STAFF=DENY, WAREHOUSE=DENY),
        variables=_capture("amazon"),
    ),
    Row(
        "cancel_own_order", "orders: cancel", mutation("cancelOrder", "CancelOrderInput"),
        everyone(ADMIN=ALLOW, CSR=ALLOW, CHANNEL=ALLOW, CUSTOMER=ALLOW, STORE_STAFF=DENY, WAREHOUSE=DENY),
        variables=lambda s: _fresh(s),
    ),
    Row(
        "cancel_other_order", "orders: cancel", mutation("cancelOrder", "CancelOrderInput"),
        everyone(ADMIN=ALLOW, CSR=ALLOW, CHANNEL=DENY, CUSTOMER=DENY, STORE_STAFF=DENY, WAREHOUSE=DENY),
        variables=lambda s: _fresh(s, customer_id=s.bob, channel_id="amazon"),
    ),
    Row(
        "hold_order", "orders: hold and edit", mutation("holdOrder", "HoldOrderInput"),
        {"ADMIN": ALLOW, "CSR": ALLOW}, variables=lambda s: _fresh(s),
    ),
    Row(
        "release_order_hold", "orders: hold and edit", mutation("releaseOrderHold", "ReleaseOrderHoldInput"),
        {"ADMIN": ALLOW, "CSR": ALLOW}, variables=lambda s: _fresh(s, held=True),
    ),
    Row(
        "edit_order", "orders: hold and edit", mutation("editOrder", "EditOrderInput"),
        {"ADMIN": ALLOW, "CSR": ALLOW},
        variables=lambda s: _edit(s),
    ),
    # --- stock (writes) ------------------------------------------------------------------------
    Row(
        "adjust_stock_own_location", "stock: change", mutation("adjustStock", "AdjustStockInput"),
        {"ADMIN": ALLOW, "STORE_STAFF": ALLOW},
        variables=lambda s: {"input": {"sku": "SKU-1", "location": "ST-A", "delta": 1, "reason": "count"}},
    ),
    Row(
        "adjust_stock_other_location", "stock: change", mutation("adjustStock", "AdjustStockInput"),
        {"ADMIN": ALLOW},
        variables=lambda s: {"input": {"sku": "SKU-1", "location": "ST-B", "delta": 1, "reason": "count"}},
    ),
    Row(
        "receive_stock", "stock: change", mutation("receiveStock", "ReceiveStockInput"),
        {"ADMIN": ALLOW, "WAREHOUSE": ALLOW},
        variables=lambda s: {"input": {"sku": "SKU-2", "location": "DC-A", "quantity": 5}},
    ),
    Row(
        "transfer_stock", "stock: change", mutation("transferStock", "TransferStockInput"),
        {"ADMIN": ALLOW, "WAREHOUSE": ALLOW},
        variables=lambda s: {"input": {"sku": "SKU-1", "from": "DC-A", "to": "ST-A", "quantity": 1}},
    ),
    Row(
        "set_stock_policy", "stock: change", mutation("setStockPolicy", "SetStockPolicyInput"),
        {"ADMIN": ALLOW, "STORE_STAFF": ALLOW},
        variables=lambda s: {"input": {"sku": "SKU-1", "location": "ST-A", "safetyStock": 1}},
    ),
    # --- rate limits -----------------------------------------------------------------------------
    Row(
        # Every caller may ask about its own budget (and only its own: the key is its principal).
        "rate_limit", "rate limits", "{ rateLimit { maximumAvailable currentlyAvailable restoreRate } }",
        everyone(ALLOW),
        check=lambda v, s, c: 0 <= v["currentlyAvailable"] <= v["maximumAvailable"],
    ),
]


async def _pickup(seed: Seed) -> dict[str, Any]:
    made = order(seed.ada, channel_id="web", status=OrderStatus.ALLOCATED, lines=[("SKU-2", 1, 1000)])
    made = replace(
        made,
        delivery=Delivery(method=DeliveryMethod.PICKUP_IN_STORE, pickup_location_id="ST-A"),
        allocations=(Allocation(id=new_id(), line_id="1", sku="SKU-2", location_id="DC-A", quantity=1, status=AllocationStatus.FULFILLED),),
    )
    await seed.add_order(made)
    return {"id": gid("Order", made.id)}


async def _merge(seed: Seed) -> dict[str, Any]:
    """Two fresh records of one person for each caller, so the ADMIN's merge leaves the seed alone."""
    assert seed.add_customer is not None
    survivor, merged = customer("Dup", "One", email=f"one-{new_id()}@example.com"), customer("Dup", "Two", email=f"two-{new_id()}@example.com")
    await seed.add_customer(survivor)
    await seed.add_customer(merged)
    return {"input": {"survivorId": gid("Customer", survivor.id), "mergedId": gid("Customer", merged.id), "reason": "authz test"}}


async def _edit(seed: Seed) -> dict[str, Any]:
    made = await seed.fresh_order()
    return {
        "input": {
            "orderId": gid("Order", made.id),
            "reason": "customer called",
            "shippingAddress": {"line1": "2 Elm St", "city": "Boston", "postalCode": "02109"},
            "point": {"lat": 42.35, "lng": -71.06},
        }
    }


def seed_orders(ada: str, bob: str) -> tuple[Order, Order]:
    """A1: ada's web order reserved at ST-A; B1: bob's amazon order reserved at ST-B (1 × SKU-1 each)."""
    a1 = replace(
        order(ada, channel_id="web", external_id="A1", status=OrderStatus.ALLOCATED, lines=[("SKU-1", 1, 1000)]),
        allocations=(Allocation(id=new_id(), line_id="1", sku="SKU-1", location_id="ST-A", quantity=1),),
    )
    b1 = replace(
        order(bob, channel_id="amazon", external_id="B1", status=OrderStatus.ALLOCATED, lines=[("SKU-1", 1, 1000)]),
        allocations=(Allocation(id=new_id(), line_id="1", sku="SKU-1", location_id="ST-B", quantity=1),),
    )
    return a1, b1


def people() -> tuple[Any, Any]:
    return customer("Ada", "Lovelace"), customer("Bob", "Builder", email="bob@example.com")


@dataclass(frozen=True)
class SubscriptionRow:
    """A subscription, run over graphql-transport-ws. ALLOW: accepted (no error while it waits for
    events); DENY: ends at once with a typed error. Missing callers are DENY; ANONYMOUS is refused
    every operation (UNAUTHENTICATED; a bad credential closes with 4403, tests/test_auth.py)."""

    name: str
    group: str
    query: str
    expect: Mapping[str, str]
    variables: Callable[[Seed], dict[str, Any]] = lambda seed: {}  # noqa: E731


SUBSCRIPTION_ROWS: list[SubscriptionRow] = [
    SubscriptionRow(
        "order_updated_unfiltered", "subscriptions: orders", "subscription { orderUpdated { cursor } }", everyone()
    ),
    SubscriptionRow(
        "order_updated_other_customer", "subscriptions: orders",
        "subscription($c: ID) { orderUpdated(customerId: $c) { cursor } }",
        # Scoped callers other than the customer are narrowed (their scope AND this filter), not refused.
        everyone(CUSTOMER=DENY), variables=lambda s: {"c": gid("Customer", s.bob)},
    ),
    SubscriptionRow(
        "order_updated_other_order", "subscriptions: orders",
        "subscription($o: ID) { orderUpdated(orderId: $o) { cursor } }",
        {"ADMIN": ALLOW, "CSR": ALLOW}, variables=lambda s: {"o": gid("Order", s.b1.id)},
    ),
    SubscriptionRow(
        "order_updated_other_channel", "subscriptions: orders",
        'subscription { orderUpdated(channel: "amazon") { cursor } }', everyone(CHANNEL=DENY),
    ),
    SubscriptionRow(
        "stock_level_changed_other_location", "subscriptions: stock",
        'subscription { stockLevelChanged(skus: ["SKU-1"], locationIds: ["ST-B"]) { cursor } }',
        {"ADMIN": ALLOW, "CSR": ALLOW, "CHANNEL": ALLOW},
    ),
    SubscriptionRow(
        "stock_level_changed_own_location", "subscriptions: stock",
        'subscription { stockLevelChanged(skus: ["SKU-1"], locationIds: ["ST-A"]) { cursor } }',
        {"ADMIN": ALLOW, "CSR": ALLOW, "CHANNEL": ALLOW, "STORE_STAFF": ALLOW},
    ),
    SubscriptionRow(
        "dashboard", "subscriptions: dashboard", "subscription { dashboard { backorders } }",
        {"ADMIN": ALLOW, "CSR": ALLOW},
    ),
]
