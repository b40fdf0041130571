"""The customer service cases rows of the authorization table (tests/authz_table.py explains rows and outcomes).

Targets are made per caller through the real service: ada's case (about A1, so on `web`, opened at
ST-A, the STORE_STAFF caller's store) or bob's (about B1, on `amazon`, opened at ST-B), each with a
customer-visible message and an internal note. CSRs and admins see every case; store staff those
opened at their stores; a customer their own, and only customer-visible entries; a channel
integration its channel's, customer-visible entries only; warehouses none.
"""

from __future__ import annotations

from typing import Any

from app.domain.cases import Case, CaseLinks, CaseTopic, ContactChannel, EntryKind, OpenCase
from app.domain.ids import new_id
from app.domain.principals import Principal, Role
from tests.authz_table import ALLOW, DENY, HIDE, Row, Seed, SubscriptionRow, everyone, gid, mutation

_OPENER = Principal(subject="authz-csr", role=Role.CSR)


async def make_case(seed: Seed, who: str = "ada", *, order_id: str | None = None) -> Case:
    services = seed.returns.services
    customer_id, order, store = (seed.ada, seed.a1, "ST-A") if who == "ada" else (seed.bob, seed.b1, "ST-B")
    request = OpenCase(
        client_key=new_id(), contact_channel=ContactChannel.PHONE, topic=CaseTopic.WHERE_IS_MY_ORDER, subject=f"{who}'s parcel",
        message="Where is it?", customer_id=customer_id, links=CaseLinks(order_ids=(order_id or order.id,)), location_id=store,
    )
    case = (await services.cases.open(_OPENER, request)).case
    await services.cases.add_entry(_OPENER, case.id, EntryKind.NOTE, "internal: check the carrier")
    return case


def _on(who: str, build: Any = None) -> Any:
    async def variables(seed: Seed) -> dict[str, Any]:
        case = await make_case(seed, who)
        if build is None:
            return {"id": gid("Case", case.id)}
        return {"input": build(gid("Case", case.id))}

    return variables


def _open(who: str) -> Any:
    def variables(seed: Seed) -> dict[str, Any]:
        customer_id, order = (seed.ada, seed.a1) if who == "ada" else (seed.bob, seed.b1)
        return {"input": {
            "clientKey": new_id(), "contactChannel": "PHONE", "topic": "CHANGE_ORDER", "subject": "Change my order",
            "customerId": gid("Customer", customer_id), "orderIds": [gid("Order", order.id)],
        }}

    return variables


async def _both(seed: Seed) -> dict[str, Any]:
    await make_case(seed, "ada")
    await make_case(seed, "bob")
    return {}


async def _queued(seed: Seed) -> dict[str, Any]:
    await make_case(seed, "ada")
    return {}


async def _cancel_from_case(seed: Seed) -> dict[str, Any]:
    made = await seed.fresh_order()
    case = await make_case(seed, "ada", order_id=made.id)
    return {"input": {"orderId": gid("Order", made.id), "reason": "authz test", "caseId": gid("Case", case.id)}}


def _scoped_list(value: Any, seed: Seed, caller: str) -> bool:
    seen = {edge["node"]["subject"] for edge in value["edges"]}
    expected = {
        "ADMIN": {"ada's parcel", "bob's parcel"}, "CSR": {"ada's parcel", "bob's parcel"},
        "STORE_STAFF": {"ada's parcel"}, "CHANNEL": {"ada's parcel"}, "CUSTOMER": {"ada's parcel"},
    }[caller]
    return seen == expected


def _entries_for_role(value: Any, seed: Seed, caller: str) -> bool:
    kinds = [entry["kind"] for entry in value["entries"]]
    return kinds == (["MESSAGE"] if caller in ("CHANNEL", "CUSTOMER") else ["MESSAGE", "NOTE"])


_CASE = "query($id: ID!) { case(id: $id) { subject } }"
_ENTRIES = "query($id: ID!) { case(id: $id) { entries { kind body } } }"
_LIST = "{ cases(first: 100) { edges { node { subject } } } }"
_CLAIM = "mutation { claimNextCase { __typename ... on ClaimNextCasePayload { case { number } } ... on Error { code message field } } }"

CASE_ROWS: list[Row] = [
    # --- reads -----------------------------------------------------------------------------------
    Row("case_own", "cases: read", _CASE, everyone(ALLOW, WAREHOUSE=HIDE), variables=_on("ada")),
    Row("case_other_customer", "cases: read", _CASE, everyone(HIDE, ADMIN=ALLOW, CSR=ALLOW), variables=_on("bob")),
    Row(
        "node_case_other_customer", "cases: read", "query($id: ID!) { node(id: $id) { ... on Case { subject } } }",
        everyone(HIDE, ADMIN=ALLOW, CSR=ALLOW), variables=_on("bob"),
    ),
    Row("case_internal_notes", "cases: read", _ENTRIES, everyone(ALLOW, WAREHOUSE=HIDE), variables=_on("ada"), check=_entries_for_role),
    Row("cases_list_scoped", "cases: read", _LIST, everyone(ALLOW, WAREHOUSE=DENY), variables=_both, check=_scoped_list),
    Row("case_sla_policy", "cases: SLA policy", "{ caseSlaPolicy { scope } }", everyone()),
    Row(
        "set_case_sla_policy", "cases: SLA policy", mutation("setCaseSlaPolicy", "SetCaseSlaPolicyInput"), {"ADMIN": ALLOW},
        variables=lambda s: {"input": {"targets": [{"priority": "LOW", "firstResponseMinutes": 60, "resolutionMinutes": 600}]}},
    ),
    # --- openCase --------------------------------------------------------------------------------
    Row(
        "open_case_own_customer", "cases: open", mutation("openCase", "OpenCaseInput"), everyone(ALLOW, WAREHOUSE=DENY),
        variables=_open("ada"), codes={"WAREHOUSE": "FORBIDDEN"},
    ),
    Row(
        # Store staff help whoever walks in (at their own store); a channel or customer cannot see bob's order.
        "open_case_other_customer", "cases: open", mutation("openCase", "OpenCaseInput"),
        {"ADMIN": ALLOW, "CSR": ALLOW, "STORE_STAFF": ALLOW}, variables=_open("bob"),
        codes={"CHANNEL": "NOT_FOUND", "CUSTOMER": "NOT_FOUND", "WAREHOUSE": "FORBIDDEN"},
    ),
    # --- the thread, status, queue ---------------------------------------------------------------
    Row(
        "add_case_message_own", "cases: thread", mutation("addCaseEntry", "AddCaseEntryInput"), everyone(ALLOW, WAREHOUSE=DENY),
        variables=_on("ada", lambda cid: {"caseId": cid, "body": "any news?"}), codes={"WAREHOUSE": "NOT_FOUND"},
    ),
    Row(
        "add_case_message_other_customer", "cases: thread", mutation("addCaseEntry", "AddCaseEntryInput"),
        {"ADMIN": ALLOW, "CSR": ALLOW}, variables=_on("bob", lambda cid: {"caseId": cid, "body": "any news?"}),
        codes={"STORE_STAFF": "NOT_FOUND", "CHANNEL": "NOT_FOUND", "CUSTOMER": "NOT_FOUND", "WAREHOUSE": "NOT_FOUND"},
    ),
    Row(
        "add_case_note", "cases: thread", mutation("addCaseEntry", "AddCaseEntryInput"),
        {"ADMIN": ALLOW, "CSR": ALLOW, "STORE_STAFF": ALLOW},
        variables=_on("ada", lambda cid: {"caseId": cid, "kind": "NOTE", "body": "internal"}),
        codes={"CHANNEL": "FORBIDDEN", "CUSTOMER": "FORBIDDEN"},
    ),
    Row(
        "set_case_status", "cases: status", mutation("setCaseStatus", "SetCaseStatusInput"),
        {"ADMIN": ALLOW, "CSR": ALLOW, "STORE_STAFF": ALLOW},
        variables=_on("ada", lambda cid: {"caseId": cid, "status": "RESOLVED"}),
        codes={"CHANNEL": "FORBIDDEN", "CUSTOMER": "FORBIDDEN", "WAREHOUSE": "NOT_FOUND"},
    ),
    Row(
        "assign_case", "cases: queue", mutation("assignCase", "AssignCaseInput"), {"ADMIN": ALLOW, "CSR": ALLOW},
        variables=_on("ada", lambda cid: {"caseId": cid, "assignee": "csr:sam"}),
        codes={"STORE_STAFF": "FORBIDDEN", "CHANNEL": "FORBIDDEN", "CUSTOMER": "FORBIDDEN", "WAREHOUSE": "NOT_FOUND"},
    ),
    Row(
        "claim_next_case", "cases: queue", _CLAIM, {"ADMIN": ALLOW, "CSR": ALLOW}, variables=_queued,
        check=lambda value, seed, caller: value["case"] is not None,
    ),
    Row(
        # An order action from a case: the action's own rules, and the case must be visible.
        "cancel_order_from_case", "cases: order actions", mutation("cancelOrder", "CancelOrderInput"),
        everyone(ALLOW, STORE_STAFF=DENY, WAREHOUSE=DENY), variables=_cancel_from_case,
    ),
]

CASE_SUBSCRIPTION_ROWS: list[SubscriptionRow] = [
    SubscriptionRow("case_updated_unfiltered", "subscriptions: cases", "subscription { caseUpdated { cursor } }", everyone(WAREHOUSE=DENY)),
    SubscriptionRow(
        "case_updated_other_customer", "subscriptions: cases", "subscription($c: ID) { caseUpdated(customerId: $c) { cursor } }",
        # Store staff and channels are narrowed to their scope AND this filter; a customer is refused.
        everyone(CUSTOMER=DENY, WAREHOUSE=DENY), variables=lambda s: {"c": gid("Customer", s.bob)},
    ),
    SubscriptionRow(
        "case_updated_other_store", "subscriptions: cases", 'subscription { caseUpdated(location: "ST-B") { cursor } }',
        everyone(STORE_STAFF=DENY, WAREHOUSE=DENY),
    ),
]

