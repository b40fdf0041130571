"""Customers with orders to open cases about, tokens per role, and the GraphQL documents the case tests share."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from app.domain.cases import CaseLinks, CasePriority, CaseTopic, ContactChannel, OpenCase
from app.domain.customers import Customer
from app.domain.ids import new_id
from app.domain.orders import Order, OrderStatus
from app.domain.principals import Principal, Role
from app.services.container import Services
from tests.factories import World, customer, order

ERRORS = "... on Error { __typename code message field } ... on InvalidInputError { issues { code field message } }"
CASE_FIELDS = """
  id number status priority topic contactChannel subject clientKey channelCode locationCode assignee openedBy lastContactAt version
  sla { firstResponseDue resolutionDue firstRespondedAt firstResponseBreachedAt resolutionBreachedAt pausedSince breached }
  entries { kind body fromCustomer action author order { externalId } }
  orders { externalId status }
"""
OPEN = f"""
mutation($input: OpenCaseInput!) {{
  openCase(input: $input) {{ __typename ... on OpenCasePayload {{ replayed case {{ {CASE_FIELDS} }} }} {ERRORS} }}
}}
"""
ENTRY = f"""
mutation($input: AddCaseEntryInput!) {{
  addCaseEntry(input: $input) {{ __typename ... on CasePayload {{ case {{ {CASE_FIELDS} }} }} {ERRORS} }}
}}
"""
STATUS = f"""
mutation($input: SetCaseStatusInput!) {{
  setCaseStatus(input: $input) {{ __typename ... on CasePayload {{ case {{ {CASE_FIELDS} }} }} {ERRORS} }}
}}
"""
CLAIM = f"""
mutation($input: ClaimNextCaseInput) {{
  claimNextCase(input: $input) {{ __typename ... on ClaimNextCasePayload {{ case {{ id number assignee priority }} }} {ERRORS} }}
}}
"""
GET = f"query($id: ID!) {{ case(id: $id) {{ {CASE_FIELDS} }} }}"
LIST = """
query($f: CaseFilterInput, $order: CaseOrder, $first: Int, $after: String) {
  cases(filter: $f, order: $order, first: $first, after: $after) {
    edges { cursor node { number subject priority status assignee } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def gid(type_name: str, node_id: str) -> str:
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


def open_input(shopper: str | None, *, orders: list[Order] = (), key: str | None = None, **extra: Any) -> dict[str, Any]:  # type: ignore[assignment]
    body: dict[str, Any] = {
        "clientKey": key or f"ck-{new_id()}",
        "contactChannel": "PHONE",
        "topic": "WHERE_IS_MY_ORDER",
        "subject": "Where is my order?",
        "message": "It was due on Monday and has not arrived.",
        "orderIds": [gid("Order", o.id) for o in orders],
        **extra,
    }
    if shopper is not None:
        body["customerId"] = gid("Customer", shopper)
    return {"input": body}


@dataclass
class CaseWorld:
    world: World
    services: Services
    ada: Customer
    bob: Customer
    ada_order: Order
    bob_order: Order

    async def token(self, role: Role, **scope: Any) -> str:
        return (await self.services.auth.create_api_key(name=f"cases-{role}-{new_id()}", role=role, **scope))[1]

    async def case(
        self, who: Customer | None = None, *, priority: CasePriority = CasePriority.NORMAL, subject: str = "Where is my order?",
        by: Principal | None = None, orders: tuple[str, ...] = (), channel: ContactChannel = ContactChannel.PHONE,
        topic: CaseTopic = CaseTopic.WHERE_IS_MY_ORDER, message: str | None = "Late parcel",
    ) -> Any:
        shopper = who or self.ada
        request = OpenCase(
            client_key=new_id(), contact_channel=channel, topic=topic, subject=subject, message=message, priority=priority,
            customer_id=shopper.id, links=CaseLinks(order_ids=orders),
        )
        return (await self.services.cases.open(by or CSR, request)).case

    async def events(self, **query: Any) -> list[dict[str, Any]]:
        return await self.world.mongo.db.events.find({"aggregate_type": "Case", **query}).sort("_id", 1).to_list()


CSR = Principal(subject="csr:riley", role=Role.CSR)
CSR2 = Principal(subject="csr:sam", role=Role.CSR)


async def case_world(world: World, services: Services) -> CaseWorld:
    ada = customer("Ada", "Caller", email=f"ada.{new_id()}@example.com")
    bob = customer("Bob", "Other", email=f"bob.{new_id()}@example.com")
    await world.add_customers(ada, bob)
    ada_order = order(ada.id, external_id=f"W-{new_id()[-6:]}", status=OrderStatus.CREATED)
    bob_order = order(bob.id, channel_id="amazon", external_id=f"A-{new_id()[-6:]}", status=OrderStatus.CREATED)
    await world.add_orders(ada_order, bob_order)
    return CaseWorld(world=world, services=services, ada=ada, bob=bob, ada_order=ada_order, bob_order=bob_order)
