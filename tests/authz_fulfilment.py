"""The fulfilment rows of the authorization table (tests/authz_table.py explains rows and outcomes).

Reads run against A1's shipment at ST-A and B1's at ST-B (`Seed.shipments`); every work-flow row
gets a fresh shipment per caller (`Seed.place`), already worked up to the step the row takes next.
Work flow is for staff at the shipment's location and ADMIN: others who can see the shipment (CSR,
the order's channel and customer) are FORBIDDEN; those who cannot see it get NOT_FOUND.
"""

from __future__ import annotations

from typing import Any

from app.domain.shipments import ShipmentStatus
from tests.authz_table import ALLOW, DENY, HIDE, Row, Seed, everyone, gid, mutation

SEES_ALL = {"ADMIN", "CSR"}


def _numbers(connection: Any) -> set[str]:
    return {edge["node"]["number"] for edge in connection["edges"]}


def _scoped_list(value: Any, seed: Seed, caller: str) -> bool:
    expected = {
        "ADMIN": {"A1-1", "B1-1"}, "CSR": {"A1-1", "B1-1"}, "STORE_STAFF": {"A1-1"}, "WAREHOUSE": set(),
        "CHANNEL": {"A1-1"}, "CUSTOMER": {"A1-1"},
    }[caller]
    return _numbers(value) == expected


async def _seeded(seed: Seed, external_id: str | None = None) -> dict[str, Any]:
    made = await seed.shipments()
    return {"id": gid("Shipment", made[external_id].id)} if external_id else {}


def _at(location: str, stage: ShipmentStatus = ShipmentStatus.PENDING, pickup: bool = False) -> Any:
    """Variables for a work-flow mutation on a fresh shipment at `location`, worked up to `stage`."""

    async def build(seed: Seed) -> dict[str, Any]:
        shipment = await seed.place(location, stage=stage, pickup_at=location if pickup else None)
        sid = gid("Shipment", shipment.id)
        if stage is ShipmentStatus.PICKING:  # confirmPick: every line, fully picked
            lines = [{"lineId": line.allocation_id, "pickedQuantity": line.quantity} for line in shipment.lines]
            return {"input": {"shipmentId": sid, "lines": lines}}
        if stage is ShipmentStatus.PICKED:  # packShipment: one box
            return {"input": {"shipmentId": sid, "packages": [{"weightGrams": 500, "lengthCm": 20, "widthCm": 15, "heightCm": 10}]}}
        if stage is ShipmentStatus.PENDING:  # startPicking
            return {"input": {"shipmentIds": [sid]}}
        return {"input": {"shipmentId": sid}}  # shipShipment, confirmPickup

    return build


def _codes(location: str, *, seen_by: tuple[str, ...] = ("CSR", "CHANNEL", "CUSTOMER")) -> dict[str, str]:
    """Work flow on a shipment of ada's `web` order at `location`: those who see it but may not work it
    get FORBIDDEN; staff of other locations cannot see it, so NOT_FOUND (no existence leak)."""
    works_there = {"ST-A": "STORE_STAFF", "DC-A": "WAREHOUSE"}.get(location)
    return {**{c: "FORBIDDEN" for c in seen_by}, **{c: "NOT_FOUND" for c in ("STORE_STAFF", "WAREHOUSE") if c != works_there}}


async def _split(seed: Seed) -> dict[str, Any]:
    shipment = await seed.place("ST-A", also_at=("ST-B",))
    return {"id": gid("Order", shipment.order_id)}


def _split_shipments(value: Any, seed: Seed, caller: str) -> bool:
    # Store staff see the order (it is allocated at their store) but only their store's shipment.
    expected = ["ST-A"] if caller == "STORE_STAFF" else ["ST-A", "ST-B"]
    return sorted(s["locationCode"] for s in value["shipments"]) == expected


def _pick_list_has(number: str) -> Any:
    return lambda value, seed, caller: [s["shipmentNumber"] for s in value["shipments"]] == [number]


_SHIPMENTS = "query($f: ShipmentFilterInput) { shipments(first: 50, filter: $f) { edges { node { number } } } }"
_PICK_LIST = "query($loc: String!) { pickList(locationId: $loc) { locationCode shipments { shipmentNumber } } }"
_RATES = "query($id: ID!) { shippingRates(shipmentId: $id) { shipment { number } quotes { carrier } } }"

FULFILMENT_ROWS: list[Row] = [
    # --- shipments (reads) -----------------------------------------------------------------------
    Row("shipments_list_scoped", "shipments: read", _SHIPMENTS, everyone(), variables=lambda s: _seeded(s), check=_scoped_list),
    Row(
        "shipments_filter_other_location", "shipments: read", _SHIPMENTS,
        everyone(ADMIN=ALLOW, CSR=ALLOW, STORE_STAFF=DENY, WAREHOUSE=DENY, CHANNEL=HIDE, CUSTOMER=HIDE),
        variables=lambda s: _with(_seeded(s), f={"locations": ["ST-B"]}),
        check=lambda v, s, c: _numbers(v) == {"B1-1"},
    ),
    Row(
        "shipment_in_scope", "shipments: read", "query($id: ID!) { shipment(id: $id) { number } }",
        everyone(ALLOW, WAREHOUSE=HIDE), variables=lambda s: _seeded(s, "A1"),
    ),
    Row(
        "node_shipment_out_of_scope", "shipments: read", "query($id: ID!) { node(id: $id) { ... on Shipment { number } } }",
        everyone(HIDE, ADMIN=ALLOW, CSR=ALLOW), variables=lambda s: _seeded(s, "B1"),
    ),
    Row(
        "order_nested_shipments", "shipments: read", "query($id: ID!) { order(id: $id) { shipments { locationCode } } }",
        everyone(ALLOW, WAREHOUSE=HIDE), variables=_split, check=_split_shipments,
    ),
    # --- pick lists --------------------------------------------------------------------------------
    Row(
        "pick_list_own_store", "pick lists", _PICK_LIST, {"ADMIN": ALLOW, "STORE_STAFF": ALLOW},
        variables=lambda s: _with(_seeded(s), loc="ST-A"), check=_pick_list_has("A1-1"),
    ),
    Row(
        "pick_list_other_store", "pick lists", _PICK_LIST, {"ADMIN": ALLOW},
        variables=lambda s: _with(_seeded(s), loc="ST-B"), check=_pick_list_has("B1-1"),
    ),
    Row(
        "pick_list_warehouse", "pick lists", _PICK_LIST, {"ADMIN": ALLOW, "WAREHOUSE": ALLOW},
        variables=lambda s: {"loc": "DC-A"}, check=lambda v, s, c: v["locationCode"] == "DC-A",
    ),
    # --- warehouse work flow ---------------------------------------------------------------------
    Row("start_picking_own_store", "work flow", mutation("startPicking", "StartPickingInput"),
        {"ADMIN": ALLOW, "STORE_STAFF": ALLOW}, variables=_at("ST-A"),
        codes=_codes("ST-A")),
    Row("start_picking_other_store", "work flow", mutation("startPicking", "StartPickingInput"),
        {"ADMIN": ALLOW}, variables=_at("ST-B"),
        codes=_codes("ST-B")),
    Row("start_picking_warehouse", "work flow", mutation("startPicking", "StartPickingInput"),
        {"ADMIN": ALLOW, "WAREHOUSE": ALLOW}, variables=_at("DC-A"),
        codes=_codes("DC-A")),
    Row("confirm_pick_own_store", "work flow", mutation("confirmPick", "ConfirmPickInput"),
        {"ADMIN": ALLOW, "STORE_STAFF": ALLOW}, variables=_at("ST-A", ShipmentStatus.PICKING),
        codes=_codes("ST-A")),
    Row("confirm_pick_other_store", "work flow", mutation("confirmPick", "ConfirmPickInput"),
        {"ADMIN": ALLOW}, variables=_at("ST-B", ShipmentStatus.PICKING),
        codes=_codes("ST-B")),
    Row("pack_shipment_own_store", "work flow", mutation("packShipment", "PackShipmentInput"),
        {"ADMIN": ALLOW, "STORE_STAFF": ALLOW}, variables=_at("ST-A", ShipmentStatus.PICKED),
        codes=_codes("ST-A")),
    Row("pack_shipment_other_store", "work flow", mutation("packShipment", "PackShipmentInput"),
        {"ADMIN": ALLOW}, variables=_at("ST-B", ShipmentStatus.PICKED),
        codes=_codes("ST-B")),
    Row("ship_shipment_warehouse", "work flow", mutation("shipShipment", "ShipShipmentInput"),
        {"ADMIN": ALLOW, "WAREHOUSE": ALLOW}, variables=_at("DC-A", ShipmentStatus.PACKED),
        codes=_codes("DC-A")),
    # --- shipping rates --------------------------------------------------------------------------
    Row("shipping_rates_in_scope", "shipping rates", _RATES, everyone(ALLOW, WAREHOUSE=DENY), variables=lambda s: _seeded(s, "A1"),
        codes={"WAREHOUSE": "NOT_FOUND"}),
    Row("shipping_rates_out_of_scope", "shipping rates", _RATES, {"ADMIN": ALLOW, "CSR": ALLOW}, variables=lambda s: _seeded(s, "B1"),
        codes=dict.fromkeys(("STORE_STAFF", "WAREHOUSE", "CHANNEL", "CUSTOMER"), "NOT_FOUND")),
    # --- pick-up hand-over -----------------------------------------------------------------------
    Row("confirm_pickup_own_store", "pick-up hand-over", mutation("confirmPickup", "ConfirmPickupInput"),
        {"ADMIN": ALLOW, "STORE_STAFF": ALLOW}, variables=_at("ST-A", ShipmentStatus.READY_FOR_PICKUP, pickup=True),
        codes=_codes("ST-A")),
    Row("confirm_pickup_other_store", "pick-up hand-over", mutation("confirmPickup", "ConfirmPickupInput"),
        {"ADMIN": ALLOW}, variables=_at("ST-B", ShipmentStatus.READY_FOR_PICKUP, pickup=True),
        codes=_codes("ST-B")),
]


async def _with(seeded: Any, **variables: Any) -> dict[str, Any]:
    await seeded  # the seeded shipments must exist before the query runs
    return variables
