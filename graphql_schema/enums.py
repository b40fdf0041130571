"""GraphQL enums: the domain's enums, exposed under the same names and values."""

from __future__ import annotations

import strawberry

from app.domain import (
    carriers,
    cases,
    channels,
    exchanges,
    geocoding,
    locations,
    orders,
    payments,
    principals,
    products,
    refunds,
    returns,
    shipments,
)

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
PaymentMethod = strawberry.enum(payments.PaymentMethod, description="How the shopper paid.")
ReturnStatus = strawberry.enum(returns.ReturnStatus, description="Where a return stands, from request to refund or close.")
ReturnMethod = strawberry.enum(
    returns.ReturnMethod, description="IN_STORE: handed over at a store counter. MAIL: sent back with a return label."
)
ReturnReason = strawberry.enum(returns.ReturnReason, description="Why the shopper returns a line.")
Disposition = strawberry.enum(returns.Disposition, description="What becomes of a received unit.")
ShippingPayer = strawberry.enum(returns.ShippingPayer, description="Who pays for the return label.")
ExchangeMode = strawberry.enum(returns.ExchangeMode, description="When an exchange's replacement stock is reserved.")
ReturnRoutingRule = strawberry.enum(returns.ReturnRoutingRule, description="How a return's receiving location was chosen.")
OrderReturnStatus = strawberry.enum(returns.OrderReturnStatus, description="An order's returns at a glance.")
RefundKind = strawberry.enum(
    refunds.RefundKind,
    description="RETURN: for goods that came back. APPEASEMENT: goodwill without a return. EXCHANGE_CREDIT: returned goods' value applied to a replacement order (no money moved).",
)
RefundStatus = strawberry.enum(refunds.RefundStatus, description="What the payment provider did with the refund.")
RefundLineKind = strawberry.enum(refunds.RefundLineKind, description="What one line of a refund is for (fees and deductions are negative).")
ExchangeStatus = strawberry.enum(exchanges.ExchangeStatus, description="Where an exchange stands: waiting for the return, its replacement ordered, or cancelled with its return.")
ExchangeSettlement = strawberry.enum(
    exchanges.Settlement,
    name="ExchangeSettlement",
    description="How the price difference between the replacement and the returned goods is settled.",
)
CaseStatus = strawberry.enum(
    cases.CaseStatus, description="Where a case stands: NEW, OPEN, PENDING_CUSTOMER (SLA clock paused), RESOLVED (reopenable for a while), CLOSED."
)
ContactChannel = strawberry.enum(cases.ContactChannel, description="How the customer got in touch.")
CaseTopic = strawberry.enum(cases.CaseTopic, description="What the customer got in touch about.")
CasePriority = strawberry.enum(cases.CasePriority, description="How urgent a case is; sets its SLA targets.")
CaseEntryKind = strawberry.enum(
    cases.EntryKind,
    name="CaseEntryKind",
    description="MESSAGE: customer-visible. NOTE: internal, never shown to customers or channels. ACTION: an order action taken from the case.",
)
SlaKind = strawberry.enum(cases.SlaKind, name="SlaKind", description="A case's SLA target.")
CaseOrder = strawberry.enum(cases.CaseOrder, name="CaseOrder", description="How a case list is sorted.")
# Replenishment (issue 15).
from app.domain import purchase_orders as _purchase_orders, replenishment as _replenishment  # noqa: E402

PurchaseOrderStatus = strawberry.enum(_purchase_orders.PurchaseOrderStatus, description="Where a purchase order stands.")
PurchaseOrderSource = strawberry.enum(_purchase_orders.PurchaseOrderSource, description="Who raised a purchase order.")
ReplenishmentMode = strawberry.enum(_replenishment.ReplenishmentMode, description="What a reorder-point crossing does to its PO.")
TransferMode = strawberry.enum(_replenishment.TransferMode, description="Whether replenishment looks for nearby surplus first.")
CrossingOutcome = strawberry.enum(_replenishment.CrossingOutcome, description="What a reorder-point crossing led to.")
