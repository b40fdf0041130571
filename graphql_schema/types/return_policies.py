"""Return policy per channel: the type, its input and setReturnPolicy's result."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app.domain import returns
from graphql_schema.enums import ExchangeMode, ReturnReason, ShippingPayer
from graphql_schema.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError

_D = returns.DEFAULT_RETURN_POLICY


@strawberry.type(description="A channel's return rules (or the global ones).")
class ReturnPolicy:
    scope: str = strawberry.field(description='"global" or the channel code asked about.')
    source: str = strawberry.field(description='Where the policy in force comes from: "global" or the channel code.')
    inherited: bool = strawberry.field(description="True when the channel has no policy of its own.")
    window_days: int = strawberry.field(description="Days after delivery or pick-up during which a line may be returned.")
    inspection_reasons: list[ReturnReason] = strawberry.field(
        description="Reasons whose lines need a disposition from whoever inspects them (the others default to RESTOCK)."
    )
    return_shipping_paid_by: ShippingPayer = strawberry.field(description="Who pays for a MAIL return's label.")
    restocking_fee_basis_points: int = strawberry.field(description="Fee on refunded goods, in basis points (100 = 1 %).")
    exchange_mode: ExchangeMode = strawberry.field(description="When an exchange's replacement stock is reserved.")
    returns_centre: str | None = strawberry.field(
        description="Location code MAIL returns go to; null: the nearest location that accepts returns."
    )
    approval_required: bool = strawberry.field(
        description="Returns asked for by shoppers and channel integrations wait in REQUESTED for customer service."
    )
    version: int = strawberry.field(description="Increases with every change; 0 for the built-in default.")
    updated_at: datetime | None
    updated_by: str | None

    @classmethod
    def from_domain(cls, value: returns.ConfiguredReturnPolicy) -> ReturnPolicy:
        p = value.policy
        return cls(
            scope=value.scope,
            source=value.source,
            inherited=value.inherited,
            window_days=p.window_days,
            inspection_reasons=sorted(p.inspection_reasons),  # type: ignore[arg-type]
            return_shipping_paid_by=p.return_shipping_paid_by,
            restocking_fee_basis_points=p.restocking_fee_bp,
            exchange_mode=p.exchange_mode,
            returns_centre=p.returns_centre_location_id,
            approval_required=p.approval_required,
            version=value.version,
            updated_at=value.updated_at,
            updated_by=value.updated_by,
        )


@strawberry.input(description="A return policy. Omitted fields take the built-in defaults (not the current values).")
class ReturnPolicyInput:
    window_days: int = strawberry.field(default=_D.window_days, description="0-3650 days after delivery.")
    inspection_reasons: list[ReturnReason] = strawberry.field(
        default_factory=lambda: sorted(_D.inspection_reasons), description="Reasons whose lines need an inspector's disposition."
    )
    return_shipping_paid_by: ShippingPayer = strawberry.field(default=ShippingPayer(_D.return_shipping_paid_by))
    restocking_fee_basis_points: int = strawberry.field(default=_D.restocking_fee_bp, description="0-10000.")
    exchange_mode: ExchangeMode = strawberry.field(default=ExchangeMode(_D.exchange_mode))
    returns_centre: str | None = strawberry.field(
        default=None, description="An active location that accepts returns; MAIL returns go there."
    )
    approval_required: bool = strawberry.field(default=_D.approval_required)

    def to_domain(self) -> returns.ReturnPolicy:
        """Unvalidated: the service validates (so every transport gets the same checks)."""
        return returns.ReturnPolicy(
            window_days=self.window_days,
            inspection_reasons=frozenset(returns.ReturnReason(r) for r in self.inspection_reasons),
            return_shipping_paid_by=returns.ShippingPayer(self.return_shipping_paid_by),
            restocking_fee_bp=self.restocking_fee_basis_points,
            exchange_mode=returns.ExchangeMode(self.exchange_mode),
            returns_centre_location_id=self.returns_centre,
            approval_required=self.approval_required,
        )


@strawberry.input(description="Set the global return policy, or one channel's.")
class SetReturnPolicyInput:
    channel: str | None = strawberry.field(default=None, description="Channel code; omit for the global policy.")
    policy: ReturnPolicyInput | None = strawberry.field(
        default=None, description="The new policy. Omit (with a channel) to make the channel inherit the global policy."
    )
    reason: str | None = strawberry.field(default=None, description="Why, for the audit trail.")


@strawberry.type(description="The policy now in force for the scope that was set.")
class SetReturnPolicyPayload:
    policy: ReturnPolicy = strawberry.field(description="The policy now in force.")


SetReturnPolicyResult = Annotated[
    SetReturnPolicyPayload | InvalidInputError | NotFoundError | ConflictError | PermissionDeniedError,
    strawberry.union("SetReturnPolicyResult", description="The policy in force, or why it was not changed."),
]
