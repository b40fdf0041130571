"""The refunds and exchanges rows of the authorization table (tests/authz_table.py explains rows and
outcomes). Targets come from `Seed.returns` (tests/authz_returns.py), fresh per caller: ada's MAIL
return routed to ST-A (the STORE_STAFF caller's store), received and INSPECTED there; bob's return
taken at the ST-B counter; ada's delivered web order for appeasements. The seeded orders carry no
payments, so refunds go back as MANUAL.
"""

from __future__ import annotations

from typing import Any

from app.domain.returns import ReturnMethod
from app.domain.principals import SYSTEM
from app.domain.refunds import RefundRequest
from tests.authz_table import ALLOW, DENY, HIDE, Row, Seed, everyone, gid, mutation

_PREVIEW = "query($id: ID!) { refundPreview(returnId: $id) { total { cents } } }"


def _return(stage: str, who: str = "ada", **kw: Any) -> Any:
    async def build(seed: Seed) -> Any:
        return await seed.returns.make(stage, who=who, **kw)

    return build


_ADA_INSPECTED = _return("INSPECTED")  # MAIL, received at ST-A
_BOB_AT_ST_B = _return("AUTHORIZED", who="bob", method=ReturnMethod.IN_STORE, store="ST-B")  # inspected at the ST-B counter
_ADA_AUTHORIZED = _return("AUTHORIZED")  # MAIL, on its way to ST-A


def _preview(make: Any) -> Any:
    async def build(seed: Seed) -> dict[str, Any]:
        return {"id": gid("Return", (await make(seed)).id)}

    return build


def _refund(make: Any) -> Any:
    async def build(seed: Seed) -> dict[str, Any]:
        return {"input": {"returnId": gid("Return", (await make(seed)).id)}}

    return build


async def _appeasement(seed: Seed) -> dict[str, Any]:
    made = await seed.returns.delivered(who="ada")
    return {"input": {"orderId": gid("Order", made.id), "amountCents": 500, "reason": "authz test"}}


def _exchange(make: Any) -> Any:
    async def build(seed: Seed) -> dict[str, Any]:
        ret = await make(seed)
        return {"input": {"returnId": gid("Return", ret.id), "lines": [{"returnLineId": "1", "sku": "SKU-2"}]}}

    return build


async def _refund_node_of_bob(seed: Seed) -> dict[str, Any]:
    made = await seed.returns.delivered(who="bob")
    refund = await seed.returns.services.refunds.issue(SYSTEM, RefundRequest(order_id=made.id, amount_cents=300, reason="authz test"))
    return {"id": gid("Refund", refund.id)}


async def _refund_node_at_st_a(seed: Seed) -> dict[str, Any]:
    ret = await _ADA_INSPECTED(seed)
    refund = await seed.returns.services.refunds.issue(SYSTEM, RefundRequest(return_id=ret.id))
    return {"id": gid("Refund", refund.id)}


_NODE = "query($id: ID!) { node(id: $id) { ... on Refund { amount { cents } } } }"

REFUND_ROWS: list[Row] = [
    Row("node_refund_own_return", "refunds: read", _NODE, everyone(ALLOW, WAREHOUSE=HIDE), variables=_refund_node_at_st_a),
    Row("node_refund_other_customer", "refunds: read", _NODE, everyone(HIDE, ADMIN=ALLOW, CSR=ALLOW), variables=_refund_node_of_bob),
    Row(
        "refund_preview_own_return", "refunds: preview", _PREVIEW, everyone(ALLOW, WAREHOUSE=DENY),
        variables=_preview(_ADA_INSPECTED), codes={"WAREHOUSE": "NOT_FOUND"},
    ),
    Row(
        "refund_preview_other_customer", "refunds: preview", _PREVIEW, {"ADMIN": ALLOW, "CSR": ALLOW},
        variables=_preview(_BOB_AT_ST_B),
        codes={c: "NOT_FOUND" for c in ("STORE_STAFF", "WAREHOUSE", "CHANNEL", "CUSTOMER")},
    ),
    Row(
        "issue_refund_own_store", "refunds: issue", mutation("issueRefund", "IssueRefundInput"),
        {"ADMIN": ALLOW, "CSR": ALLOW, "STORE_STAFF": ALLOW}, variables=_refund(_ADA_INSPECTED),
        codes={"CHANNEL": "FORBIDDEN", "CUSTOMER": "FORBIDDEN", "WAREHOUSE": "NOT_FOUND"},
    ),
    Row(
        "issue_refund_other_store", "refunds: issue", mutation("issueRefund", "IssueRefundInput"),
        {"ADMIN": ALLOW, "CSR": ALLOW}, variables=_refund(_BOB_AT_ST_B),
        codes={c: "NOT_FOUND" for c in ("STORE_STAFF", "WAREHOUSE", "CHANNEL", "CUSTOMER")},
    ),
    Row(
        "issue_appeasement", "refunds: appeasement", mutation("issueRefund", "IssueRefundInput"),
        {"ADMIN": ALLOW, "CSR": ALLOW}, variables=_appeasement,
        codes={c: "FORBIDDEN" for c in ("STORE_STAFF", "WAREHOUSE", "CHANNEL", "CUSTOMER")},
    ),
    Row(
        "request_exchange_own_return", "exchanges: request", mutation("requestExchange", "RequestExchangeInput"),
        everyone(ALLOW, WAREHOUSE=DENY), variables=_exchange(_ADA_AUTHORIZED), codes={"WAREHOUSE": "NOT_FOUND"},
    ),
    Row(
        "request_exchange_other_customer", "exchanges: request", mutation("requestExchange", "RequestExchangeInput"),
        {"ADMIN": ALLOW, "CSR": ALLOW}, variables=_exchange(_BOB_AT_ST_B),
        codes={c: "NOT_FOUND" for c in ("STORE_STAFF", "WAREHOUSE", "CHANNEL", "CUSTOMER")},
    ),
]
