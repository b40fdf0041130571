"""upsertChannel: a sales channel's input and the mutation's result. (The Channel type lives in types/catalog.py.)"""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.domain import channels as domain
from app.domain.carriers import ShippingPolicy as DomainShippingPolicy
from graphql_schema.enums import BackorderPolicy, ChannelKind, ShippingPolicy
from graphql_schema.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from graphql_schema.types.catalog import Channel


@strawberry.input(
    description="A sales channel, created or replaced whole by code: omitted optional fields take their defaults, "
    "not their stored values."
)
class UpsertChannelInput:
    code: str = strawberry.field(description="1 to 40 lower-case letters, digits, - or _, e.g. `amazon-us`. Never changes.")
    name: str = strawberry.field(description="Display name, up to 100 characters.")
    kind: ChannelKind = strawberry.field(description="Web shop, app, store POS, marketplace, phone, catalog or social.")
    backorder_policy: BackorderPolicy = strawberry.field(
        default=domain.BackorderPolicy.BACKORDER,
        description="Backorder what the network cannot fill at capture, or refuse the order.",
    )
    shipping_policy: ShippingPolicy = strawberry.field(
        default=DomainShippingPolicy.CHEAPEST, description="How a carrier service is chosen for its orders."
    )
    active: bool = strawberry.field(default=True, description="False stops capture on this channel; its orders stay.")
    reason: str | None = strawberry.field(default=None, description="Why, for the audit trail.")

    def to_domain(self) -> domain.Channel:
        """Unvalidated: the service validates, so every transport gets the same checks."""
        return domain.Channel(
            id=self.code,
            name=self.name,
            kind=domain.ChannelKind(self.kind.value),
            backorder_policy=domain.BackorderPolicy(self.backorder_policy.value),
            shipping_policy=DomainShippingPolicy(self.shipping_policy.value),
            active=self.active,
        )


@strawberry.type(description="The channel as now stored.")
class UpsertChannelPayload:
    channel: Channel = strawberry.field(description="The channel.")
    created: bool = strawberry.field(description="True when the channel did not exist before.")
    changed: bool = strawberry.field(
        description="False when the input matched what was stored: nothing was written and no event recorded."
    )


UpsertChannelResult = Annotated[
    UpsertChannelPayload | InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError,
    strawberry.union("UpsertChannelResult", description="The channel, or why nothing was written."),
]
