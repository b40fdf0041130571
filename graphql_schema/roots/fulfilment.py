"""Root fields: shipments, pick lists, shipping rates, and the warehouse work flow."""

from __future__ import annotations

import strawberry

from graphql_schema.permissions import IsAuthenticated
from graphql_schema.types.picking import PickList
from graphql_schema.types.shipments import Shipment, ShipmentConnection, ShippingRates
from resolvers import fulfilment as resolve


@strawberry.type
class FulfilmentQueries:
    shipments: ShipmentConnection = strawberry.field(
        resolver=resolve.shipments,
        permission_classes=[IsAuthenticated],
        description="Shipments, newest first. Staff see their locations', customers their own, CSR and admin all.",
    )
    shipment: Shipment | None = strawberry.field(
        resolver=resolve.shipment, permission_classes=[IsAuthenticated], description="One shipment."
    )
    pick_list: PickList = strawberry.field(
        resolver=resolve.pick_list,
        permission_classes=[IsAuthenticated],
        description="The next wave of released shipments at a location (or exactly `shipmentIds`), in walking order.",
    )
    shipping_rates: ShippingRates = strawberry.field(
        resolver=resolve.shipping_rates,
        permission_classes=[IsAuthenticated],
        description="Every carrier's quotes for a shipment, cheapest first, and the one its policy chooses.",
    )


@strawberry.type
class FulfilmentMutations:
    start_picking: resolve.StartPickingResult = strawberry.mutation(
        resolver=resolve.start_picking, permission_classes=[IsAuthenticated],
        description="Put released shipments on a picking wave (WAREHOUSE / STORE_STAFF at their location, ADMIN).",
    )
    confirm_pick: resolve.ConfirmPickResult = strawberry.mutation(
        resolver=resolve.confirm_pick, permission_classes=[IsAuthenticated],
        description="Record what was picked. A short pick writes the missing units off stock and re-routes or backorders them.",
    )
    pack_shipment: resolve.PackShipmentResult = strawberry.mutation(
        resolver=resolve.pack_shipment, permission_classes=[IsAuthenticated],
        description="Record the packages. At the pick-up store the shipment becomes READY_FOR_PICKUP.",
    )
    ship_shipment: resolve.ShipShipmentResult = strawberry.mutation(
        resolver=resolve.ship_shipment, permission_classes=[IsAuthenticated],
        description="Buy a label and hand over to the carrier: on hand and reserved fall together, allocations are fulfilled.",
    )
    confirm_pickup: resolve.ConfirmPickupResult = strawberry.mutation(
        resolver=resolve.confirm_pickup, permission_classes=[IsAuthenticated],
        description="The shopper collected a READY_FOR_PICKUP shipment (STORE_STAFF at the store, ADMIN).",
    )
