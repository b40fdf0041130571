"""Return policies: one document per scope, `_id` "global" or a channel id (like routing_policies)."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from app.domain.returns import (
    ConfiguredReturnPolicy,
    ExchangeMode,
    ReturnPolicy,
    ReturnReason,
    ShippingPayer,
)
from app.repositories.scoped_policies import ScopedPolicyRepository


def policy_to_doc(policy: ReturnPolicy) -> dict[str, Any]:
    """The policy's settings as plain data (also the `before`/`after` of ReturnPolicyChanged)."""
    return {
        "window_days": policy.window_days,
        "inspection_reasons": sorted(r.value for r in policy.inspection_reasons),
        "return_shipping_paid_by": policy.return_shipping_paid_by.value,
        "restocking_fee_bp": policy.restocking_fee_bp,
        "exchange_mode": policy.exchange_mode.value,
        "returns_centre_location_id": policy.returns_centre_location_id,
        "approval_required": policy.approval_required,
    }


def policy_from_doc(doc: dict[str, Any]) -> ReturnPolicy:
    default = ReturnPolicy()
    return ReturnPolicy(
        window_days=int(doc.get("window_days", default.window_days)),
        inspection_reasons=frozenset(ReturnReason(r) for r in doc.get("inspection_reasons", default.inspection_reasons)),
        return_shipping_paid_by=ShippingPayer(doc.get("return_shipping_paid_by", default.return_shipping_paid_by)),
        restocking_fee_bp=int(doc.get("restocking_fee_bp", default.restocking_fee_bp)),
        exchange_mode=ExchangeMode(doc.get("exchange_mode", default.exchange_mode)),
        returns_centre_location_id=doc.get("returns_centre_location_id"),
        approval_required=bool(doc.get("approval_required", default.approval_required)),
    )


def _configured(doc: dict[str, Any]) -> ConfiguredReturnPolicy:
    return ConfiguredReturnPolicy(
        scope=doc["_id"],
        policy=policy_from_doc(doc),
        version=int(doc.get("version", 1)),
        updated_at=doc.get("updated_at"),
        updated_by=doc.get("updated_by"),
    )


class ReturnPolicyRepository(ScopedPolicyRepository[ReturnPolicy, ConfiguredReturnPolicy]):
    def __init__(self, db: AsyncDatabase):
        super().__init__(db, "return_policies", to_doc=policy_to_doc, configured=_configured)
