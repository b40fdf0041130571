"""Sales channels: where orders come from, and how each channel wants them handled."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.domain.carriers import ShippingPolicy


class ChannelKind(StrEnum):
    WEB = "WEB"
    MOBILE_APP = "MOBILE_APP"
    STORE_POS = "STORE_POS"
    MARKETPLACE = "MARKETPLACE"
    PHONE = "PHONE"
    CATALOG = "CATALOG"
    SOCIAL = "SOCIAL"


class BackorderPolicy(StrEnum):
    """What to do with quantity the network cannot fill at capture."""

    BACKORDER = "BACKORDER"
    REFUSE = "REFUSE"


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str
    kind: ChannelKind
    backorder_policy: BackorderPolicy = BackorderPolicy.BACKORDER
    # How its orders are routed lives in `routing_policies` (app.domain.routing.policy), not here.
    shipping_policy: ShippingPolicy = ShippingPolicy.CHEAPEST  # how a carrier service is chosen at ship time
    active: bool = True
