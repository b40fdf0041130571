"""Pick lists, packing slips and labels are real PDFs at signed URLs, authorized like the GraphQL data."""

from __future__ import annotations

import io
import time
from typing import Any

import httpx
import pypdf
import pypdfium2
import pytest
from reportlab.graphics.barcode.code128 import _patterns

from app.domain.principals import Role
from app.domain.signed_tokens import make_token
from app.services.container import Services
from app.settings import Settings
from tests.conftest import GraphQLClient
from tests.factories import World
from tests.fulfilment_world import BOS, DC, FulfilmentWorld
from tests.test_customers import gid
from tests.test_fulfilment_flow import ORDER_SHIPMENTS, PICK_LIST, SHIP, picked_and_packed

pytestmark = pytest.mark.usefixtures("reservations_consistent")
SIGNING_KEY = "test-signing-key"


@pytest.fixture
def settings(mongodb_uri: str, database_name: str) -> Settings:
    return Settings(env="test", mongodb_uri=mongodb_uri, database=database_name, allow_anonymous_admin=False,
                    scheduler_interval_seconds=0, signing_key=SIGNING_KEY)


@pytest.fixture
async def fw(world: World, services: Services) -> FulfilmentWorld:
    w = FulfilmentWorld(world, services)
    await w.setup()
    return w


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def decode_code128(pdf: bytes) -> str:
    """Reads the barcode back from pixels: render, take one scan line through the bars, turn run
    lengths into module widths, look the patterns up in reportlab's Code 128 table (sets B and C)."""
    page = pypdfium2.PdfDocument(pdf)[0]
    image = page.render(scale=8).to_pil().convert("L")
    width, height = image.size
    by_pattern = {pattern: value for value, pattern in _patterns.items()}
    for y in range(height // 2, height):  # the barcode sits in the lower half of the label
        row = [image.getpixel((x, y)) < 128 for x in range(width)]
        runs: list[int] = []
        current, length = row[0], 0
        for dark in row:
            if dark == current:
                length += 1
            else:
                runs.append(length if current else -length)
                current, length = dark, 1
        bars = [r for r in runs]
        while bars and bars[0] < 0:
            bars.pop(0)
        if len(bars) < 6 * 4:
            continue
        symbols = []
        for i in range(0, len(bars) - 6, 6):
            chunk = [abs(r) for r in bars[i : i + 6]]
            module = sum(chunk) / 11  # every symbol is 11 modules wide: robust to anti-aliased edges
            widths = [max(1, round(w / module)) for w in chunk]
            pattern = "".join(("ABCD" if n % 2 == 0 else "abcd")[min(w, 4) - 1] for n, w in enumerate(widths))
            if pattern not in by_pattern:
                break
            symbols.append(by_pattern[pattern])
        if len(symbols) > 3 and symbols[0] in (104, 105):  # START B or START C
            data = symbols[1:-1]  # the last symbol is the check symbol
            if (symbols[0] + sum(v * n for n, v in enumerate(data, start=1))) % 103 != symbols[-1]:
                continue
            text, code_set = "", "B" if symbols[0] == 104 else "C"
            for value in data:
                if code_set == "B" and value == 99:
                    code_set = "C"
                elif code_set == "C" and value == 100:
                    code_set = "B"
                else:
                    text += chr(value + 32) if code_set == "B" else f"{value:02d}"
            return text
    raise AssertionError("no Code 128 barcode found")


async def shipped(fw: FulfilmentWorld, gql: GraphQLClient) -> tuple[Any, dict[str, Any]]:
    order = await fw.order([("SKU-KETTLE", 1, DC.id), ("SKU-SHOE", 2, DC.id), ("SKU-POWER", 1, DC.id)], external_id="W-1001")
    [shipment] = (await gql.data(ORDER_SHIPMENTS, {"id": gid("Order", order.id)}))["order"]["shipments"]
    await picked_and_packed(gql, shipment)
    result = (await gql.data(SHIP, {"id": shipment["id"], "carrier": "fedex", "service": "FEDEX_GROUND"}))["shipShipment"]
    assert result["__typename"] == "ShipShipmentPayload", result
    [shipment] = (await gql.data(ORDER_SHIPMENTS, {"id": gid("Order", order.id)}))["order"]["shipments"]
    return order, shipment


async def test_label_and_packing_slip_are_pdfs_with_the_right_content(fw: FulfilmentWorld, gql: GraphQLClient, http: httpx.AsyncClient) -> None:
    order, shipment = await shipped(fw, gql)
    tracking = shipment["trackingNumber"]

    label = await http.get(shipment["labelUrl"])
    assert label.status_code == 200 and label.headers["content-type"] == "application/pdf"
    assert label.content.startswith(b"%PDF")
    reader = pypdf.PdfReader(io.BytesIO(label.content))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (288, 432)  # 4 x 6 inches
    text = text_of(label.content)
    for expected in ("FROM:", "OMS Columbus DC", "4100 Logistics Pkwy", "Columbus, OH 43215", "SHIP TO:", "Ada Lovelace",
                     "77 Mass Ave", "Cambridge, MA 02139", "FEDEX GROUND", f"TRACKING #: {tracking}", "WEIGHT: 5.7 LB (2.60 KG)",
                     "FRAGILE, HAZMAT", f"REF: {shipment['number']}"):
        assert expected in text, (expected, text)
    assert decode_code128(label.content) == tracking

    slip = await http.get(shipment["packingSlipUrl"])
    assert slip.status_code == 200
    text = text_of(slip.content)
    for expected in ("Packing slip", "Order W-1001 (web)", f"shipment {shipment['number']}", "Ship from", "Ship to",
                     "Ceramic Pour-Over Kettle", "Trail Running Shoe", "Lithium Power Bank", "SKU-KETTLE", "Handle with care: FRAGILE, HAZMAT",
                     "4 items"):
        assert expected in text, (expected, text)


async def test_pick_list_pdf_walks_bins_in_order_and_marks_totes(fw: FulfilmentWorld, gql: GraphQLClient, http: httpx.AsyncClient) -> None:
    await fw.order([("SKU-KETTLE", 1, DC.id), ("SKU-SHOE", 2, DC.id)], external_id="W-1")
    await fw.order([("SKU-SHOE", 1, DC.id), ("SKU-BREW", 1, DC.id), ("SKU-POWER", 3, DC.id)], external_id="W-2")
    await fw.order([("SKU-SHOE", 1, BOS.id)], external_id="W-3")  # another location: not on this wave
    wave = (await gql.data(PICK_LIST, {"loc": DC.id, "ids": None}))["pickList"]
    # Zone A (walk 1): aisle 2 before aisle 10 (numbers, not strings); then zone B (2), then zone C (3).
    assert [(line["sku"], line["bin"]["code"], line["quantity"]) for line in wave["lines"]] == [
        ("SKU-POWER", "A-2-1-07", 3), ("SKU-SHOE", "A-10-2-01", 3), ("SKU-BREW", "B-01-3-02", 1), ("SKU-KETTLE", "C-02-1-05", 1),
    ]
    shoe = next(line for line in wave["lines"] if line["sku"] == "SKU-SHOE")
    assert sorted((s["shipmentNumber"], s["quantity"]) for s in shoe["shares"]) == [("W-1-1", 2), ("W-2-1", 1)]
    assert {s["shipmentNumber"]: s["handling"] for s in wave["shipments"]} == {"W-1-1": ["FRAGILE"], "W-2-1": ["COLD_CHAIN", "HAZMAT"]}
    assert wave["unitCount"] == 8

    response = await http.get(wave["pdfUrl"])
    assert response.status_code == 200
    text = text_of(response.content)
    assert "Pick list - Columbus Distribution Center (DC-OH-COL)" in text
    positions = [text.index(code) for code in ("A-2-1-07", "A-10-2-01", "B-01-3-02", "C-02-1-05")]
    assert positions == sorted(positions), text
    for expected in ("T1x2 T2x1", "W-1-1", "W-2-1", "COLD CHAIN, HAZMAT", "FRAGILE", "8 units"):
        assert expected in text, (expected, text)
    assert "W-3" not in text


async def test_document_urls_are_signed_expiring_and_scoped(
    fw: FulfilmentWorld, gql: GraphQLClient, http: httpx.AsyncClient, services: Services
) -> None:
    order, shipment = await shipped(fw, gql)
    shipment_id = shipment["labelUrl"].split("/")[3]
    assert (await http.get(shipment["labelUrl"])).status_code == 200

    tampered = shipment["labelUrl"][:-3] + ("AAA" if not shipment["labelUrl"].endswith("AAA") else "BBB")
    assert (await http.get(tampered)).status_code == 401
    # A label token does not open the packing slip.
    token = shipment["labelUrl"].split("token=")[1]
    assert (await http.get(f"/documents/shipments/{shipment_id}/packing-slip.pdf?token={token}")).status_code == 401
    assert (await http.get(f"/documents/shipments/{shipment_id}/label.pdf")).status_code == 401

    def url(principal: dict[str, Any], exp: int, kind: str = "label") -> str:
        claims = {"k": kind, "id": shipment_id, "exp": exp, "p": principal}
        return f"/documents/shipments/{shipment_id}/{kind}.pdf?token={make_token(SIGNING_KEY, claims)}"

    admin = {"sub": "t", "role": "ADMIN", "loc": [], "cus": None, "chn": None}
    assert (await http.get(url(admin, int(time.time()) - 1))).status_code == 401  # expired
    # Signed, unexpired, but issued to someone who may not see this shipment: not found, as in GraphQL.
    other_store = {"sub": "t", "role": "WAREHOUSE", "loc": [BOS.id], "cus": None, "chn": None}
    other_customer = {"sub": "t", "role": "CUSTOMER", "loc": [], "cus": "someone-else", "chn": None}
    owner = {"sub": "t", "role": "CUSTOMER", "loc": [], "cus": order.customer_id, "chn": None}
    assert (await http.get(url(other_store, int(time.time()) + 60))).status_code == 404
    assert (await http.get(url(other_customer, int(time.time()) + 60))).status_code == 404
    assert (await http.get(url(owner, int(time.time()) + 60))).status_code == 200

    # Through GraphQL, the customer gets working URLs for their own shipment, and nothing for others'.
    _, ada_token = await services.auth.create_api_key(name="ada", role=Role.CUSTOMER, customer_id=order.customer_id)
    mine = await gql.as_(ada_token).data(ORDER_SHIPMENTS, {"id": gid("Order", order.id)})
    assert (await http.get(mine["order"]["shipments"][0]["packingSlipUrl"])).status_code == 200
    _, bob_token = await services.auth.create_api_key(name="bob", role=Role.CUSTOMER, customer_id="someone-else")
    assert (await gql.as_(bob_token).data(ORDER_SHIPMENTS, {"id": gid("Order", order.id)}))["order"] is None
