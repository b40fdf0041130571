"""captureOrder and routingPreview: the order a channel sends, and what comes back."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from app.domain import order_capture
from graphql_schema.enums import DeliveryMethod
from graphql_schema.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError, PickupUnavailableError
from graphql_schema.types.common import AddressInput, GeoPointInput
from graphql_schema.types.orders import Order
from graphql_schema.types.payments import PaymentInput


@strawberry.input(description="Who ordered, as the channel knows them. Matched to an existing customer by channel id, email or phone, else created.")
class CustomerInput:
    email: str | None = strawberry.field(default=None, description="Email; matched case-insensitively.")
    phone: str | None = strawberry.field(default=None, description="Phone; matched on its digits.")
    first_name: str | None = strawberry.field(default=None, description="Given name, for a new customer.")
    last_name: str | None = strawberry.field(default=None, description="Family name, for a new customer.")
    channel_customer_id: str | None = strawberry.field(
        default=None, description="The channel's own id for the buyer: marketplace buyer id, loyalty number."
    )


@strawberry.input(description="One SKU and how many.")
class OrderLineInput:
    sku: str = strawberry.field(description="The SKU; one line per SKU.")
    quantity: int = strawberry.field(description="1 to 10,000.")
    unit_price_cents: int | None = strawberry.field(default=None, description="Price per unit in minor units; the catalog price when omitted.")


@strawberry.input(description="Ship to an address (with its coordinates if known), or pick up in a store.")
class DeliveryInput:
    method: DeliveryMethod = strawberry.field(description="SHIP or PICKUP_IN_STORE.")
    address: AddressInput | None = strawberry.field(default=None, description="Required for SHIP.")
    point: GeoPointInput | None = strawberry.field(
        default=None,
        description=(
            "The address's coordinates. Optional: without them a SHIP address is placed offline at the centre of its "
            "US ZIP code, else of its city (the order's delivery.pointSource says which); refused with INVALID_INPUT "
            "on delivery.address.postalCode (US) or delivery.address.city when neither is known."
        ),
    )
    pickup_location: str | None = strawberry.field(default=None, description="Store code; required for PICKUP_IN_STORE.")


@strawberry.input(
    description=(
        "An order from any channel. Idempotent on (channel, externalId): sending the same input again returns the same "
        "order; different content under the same id is refused with DUPLICATE_EXTERNAL_ID. Field paths in errors use "
        "0-based list indexes, e.g. [\"lines\", \"2\", \"quantity\"]."
    )
)
class CaptureOrderInput:
    channel: str = strawberry.field(description="Channel code, e.g. `web`, `amazon`.")
    external_id: str = strawberry.field(description="The channel's own order id.")
    lines: list[OrderLineInput] = strawberry.field(description="1 to 100 lines, one per SKU.")
    delivery: DeliveryInput = strawberry.field(description="Ship to an address, or pick up in a store.")
    customer: CustomerInput | None = strawberry.field(default=None, description="Required except for customers ordering for themselves.")
    requested_delivery_date: date | None = strawberry.field(
        default=None, description="Deliver on this day: the order waits SCHEDULED until it must be released."
    )
    notes: str | None = strawberry.field(default=None, description="Free text for the people fulfilling it.")
    shipping_cents: int = strawberry.field(default=0, description="Shipping charged, in minor units.")
    tax_cents: int = strawberry.field(default=0, description="Tax charged, in minor units.")
    currency: str = strawberry.field(default="USD", description="ISO 4217 code of every amount.")
    payments: list[PaymentInput] | None = strawberry.field(
        default=None,
        description=(
            "What the channel's payment provider captured (at most 10, in the order's currency, together not more than "
            "the order total). Refunds go back to these; without payments, refunds are recorded as MANUAL. Part of the "
            "idempotency check: a replay with other payments is DUPLICATE_EXTERNAL_ID."
        ),
    )

    def to_domain(self) -> order_capture.CaptureRequest:
        customer = self.customer or CustomerInput()
        delivery = self.delivery
        return order_capture.CaptureRequest(
            channel_id=self.channel,
            external_id=self.external_id,
            customer=order_capture.CustomerDetails(
                email=customer.email,
                phone=customer.phone,
                first_name=customer.first_name,
                last_name=customer.last_name,
                channel_customer_id=customer.channel_customer_id,
            ),
            lines=tuple(order_capture.LineRequest(line.sku, line.quantity, line.unit_price_cents) for line in self.lines),
            delivery=order_capture.DeliveryRequest(
                method=delivery.method,
                address=delivery.address.to_domain() if delivery.address else None,
                point=delivery.point.to_domain() if delivery.point else None,
                pickup_location_id=delivery.pickup_location,
            ),
            requested_date=self.requested_delivery_date,
            notes=self.notes,
            shipping_cents=self.shipping_cents,
            tax_cents=self.tax_cents,
            currency=self.currency,
            payments=tuple(p.to_domain() for p in self.payments or ()),
        )


@strawberry.type(description="The captured order, routed and reserved.")
class CaptureOrderPayload:
    order: Order = strawberry.field(description="The order, as stored.")
    replayed: bool = strawberry.field(description="True when this input was captured before: the stored order is returned, nothing new was written.")


CaptureOrderResult = Annotated[
    CaptureOrderPayload | InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError | PickupUnavailableError,
    strawberry.union("CaptureOrderResult", description="The order, or why it was refused (nothing written then)."),
]
