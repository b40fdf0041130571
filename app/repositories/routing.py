"""Routing policies: one document per scope, `_id` "global" or a channel id."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from app.domain.routing.policy import ConfiguredPolicy, RoutingPolicy
from app.repositories.database import Session


def policy_to_doc(policy: RoutingPolicy) -> dict[str, Any]:
    raise NotImplementedError


def policy_from_doc(doc: dict[str, Any]) -> RoutingPolicy:
    raise NotImplementedError


class RoutingPolicyRepository:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["routing_policies"]

    async def get_many(self, scopes: list[str], *, session: Session | None = None) -> dict[str, ConfiguredPolicy]:
        raise NotImplementedError
