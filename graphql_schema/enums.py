"""GraphQL enums: the domain's enums, exposed under the same names and values."""

from __future__ import annotations

import strawberry

from app.domain import carriers, channels, locations, orders, principals, products, shipments
from app.domain import geocoding

ChannelKind = strawberry.enum(channels.ChannelKind, description="Kind of sales channel.")
BackorderPolicy = strawberry.enum(
    channels.BackorderPolicy, description="What a channel wants done with quantity the network cannot fill."
)
LocationKind = strawberry.enum(locations.LocationKind, description="Kind of stock-holding location.")
HandlingFlag = strawberry.enum(products.HandlingFlag, description="Special handling a product needs.")
OrderStatus = strawberry.enum(orders.OrderStatus, description="Where an order stands in its lifecycle.")
DeliveryMethod = strawberry.enum(orders.DeliveryMethod, description="How the shopper gets the goods.")
PointSource = strawberry.enum(
    geocoding.PointSource,
    description=(
        "How a delivery point was found. GIVEN: the caller sent the coordinates. POSTAL_CODE: the centre of the "
        "address's postal code (US ZIP codes). CITY: the centre of the address's city. Distances from a centre are "
        "approximate."
    ),
)
AllocationStatus = strawberry.enum(orders.AllocationStatus, description="State of a reservation for an order line.")
Role = strawberry.enum(principals.Role, description="What a caller is, which decides what it may see and do.")
ShipmentStatus = strawberry.enum(shipments.ShipmentStatus, description="Where a shipment stands, from pick to delivery.")
FulfilmentMethod = strawberry.enum(
    shipments.FulfilmentMethod, description="SHIP: a carrier delivers it. PICKUP: the shopper collects it at the location."
)
TrackingEventKind = strawberry.enum(shipments.TrackingEventKind, description="Kind of carrier tracking event.")
ServiceLevel = strawberry.enum(carriers.ServiceLevel, description="Speed class of a carrier service.")
ShippingPolicy = strawberry.enum(
    carriers.ShippingPolicy,
    description="How a carrier service is chosen: cheapest, fastest, or cheapest that meets the promised date.",
)
Weekday = strawberry.enum(locations.Weekday, description="Day of the week.")
