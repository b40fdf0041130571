"""Real PDFs (reportlab): pick lists, packing slips, purchase orders, and 4x6 inch shipping and return labels with a Code 128 barcode."""

from __future__ import annotations

import io
from collections.abc import Sequence

from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER, inch
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from app.domain.carriers import GRAMS_PER_LB
from app.domain.locations import Address, Location
from app.domain.orders import Order
from app.domain.picking import PickList
from app.domain.purchase_orders import PurchaseOrder
from app.domain.returns import Return, ShippingPayer
from app.domain.shipments import Label, Shipment
from app.domain.suppliers import Supplier

_STYLES = getSampleStyleSheet()
_SMALL = ParagraphStyle("small", parent=_STYLES["Normal"], fontSize=8, leading=10)
_GRID = TableStyle(
    [
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
        ("FONT", (0, 1), (-1, -1), "Helvetica", 8),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
)
LABEL_SIZE = (4 * inch, 6 * inch)


def _address_lines(address: Address | None) -> list[str]:
    if address is None:
        return ["(no address)"]
    lines = [address.name] if address.name else []
    lines.append(address.line1)
    if address.line2:
        lines.append(address.line2)
    lines.append(f"{address.city}, {address.region or ''} {address.postal_code}".replace(" ,", ","))
    lines.append(address.country)
    return lines


def _flags(flags: Sequence[str] | frozenset[str]) -> str:
    return ", ".join(sorted(str(f).replace("_", " ") for f in flags))


def _pdf(story: list[object], title: str) -> bytes:
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=LETTER, title=title, author="OMS", leftMargin=0.6 * inch, rightMargin=0.6 * inch,
                            topMargin=0.6 * inch, bottomMargin=0.6 * inch)
    doc.build(story)  # type: ignore[arg-type]
    return buffer.getvalue()


def pick_list_pdf(pick_list: PickList) -> bytes:
    story: list[object] = [
        Paragraph(f"Pick list - {pick_list.location_name} ({pick_list.location_id})", _STYLES["Title"]),
        Paragraph(
            f"Generated {pick_list.generated_at:%Y-%m-%d %H:%M} UTC - {len(pick_list.shipments)} shipments, "
            f"{pick_list.unit_count} units, {len(pick_list.lines)} pick lines", _STYLES["Normal"]),
        Spacer(1, 8),
        Paragraph("Totes (items that ship together)", _STYLES["Heading3"]),
    ]
    totes = [["Tote", "Shipment", "Items", "Promised", "Handling"]] + [
        [f"T{s.tote}", s.shipment_number, str(s.item_count), s.promised_date.isoformat() if s.promised_date else "-", _flags(s.handling) or "-"]
        for s in pick_list.shipments
    ]
    story += [Table(totes, repeatRows=1, style=_GRID), Spacer(1, 10), Paragraph("Walk in this order", _STYLES["Heading3"])]
    rows = [["#", "Bin", "Zone", "SKU", "Item", "Qty", "Put in totes", "Handling"]]
    for line in pick_list.lines:
        rows.append(
            [
                str(line.sequence),
                line.bin.code if line.bin else "NO BIN",
                line.zone_name or (line.bin.zone if line.bin else "-"),
                line.sku,
                Paragraph(line.name, _SMALL),
                str(line.quantity),
                " ".join(f"T{share.tote}x{share.quantity}" for share in line.shares),
                _flags(line.handling) or "-",
            ]
        )
    story.append(Table(rows, repeatRows=1, style=_GRID, colWidths=[0.3 * inch, 0.9 * inch, 0.8 * inch, 0.9 * inch, 1.9 * inch, 0.4 * inch, 1.0 * inch, 1.0 * inch]))
    return _pdf(story, f"Pick list {pick_list.location_id}")


def packing_slip_pdf(shipment: Shipment, order: Order, origin: Location) -> bytes:
    story: list[object] = [
        Paragraph("Packing slip", _STYLES["Title"]),
        Paragraph(f"Order {order.external_id} ({order.channel_id}) - shipment {shipment.number}", _STYLES["Heading3"]),
        Paragraph(f"Ordered {order.created_at:%Y-%m-%d}. Estimated delivery: {shipment.eta.isoformat() if shipment.eta else 'to be confirmed'}.", _STYLES["Normal"]),
        Spacer(1, 8),
    ]
    addresses = [["Ship from", "Ship to"], ["\n".join([origin.name, *_address_lines(origin.address)]), "\n".join(_address_lines(shipment.destination))]]
    story += [Table(addresses, colWidths=[3.3 * inch, 3.3 * inch], style=_GRID), Spacer(1, 10)]
    rows = [["Line", "SKU", "Item", "Qty", "Handling"]] + [
        [line.line_id, line.sku, Paragraph(line.name, _SMALL), str(line.picked_quantity if line.picked_quantity is not None else line.quantity), _flags(line.handling) or "-"]
        for line in shipment.lines
    ]
    story += [Table(rows, repeatRows=1, style=_GRID, colWidths=[0.5 * inch, 1.1 * inch, 3.2 * inch, 0.5 * inch, 1.3 * inch]), Spacer(1, 10)]
    if shipment.packages:
        packages = [["Package", "Weight", "Dimensions (cm)"]] + [
            [str(p.number), f"{p.weight_grams / 1000:.2f} kg", f"{p.length_cm:g} x {p.width_cm:g} x {p.height_cm:g}"] for p in shipment.packages
        ]
        story += [Table(packages, style=_GRID), Spacer(1, 10)]
    if shipment.handling:
        story.append(Paragraph(f"Handle with care: {_flags(shipment.handling)}", _STYLES["Heading3"]))
    story.append(Paragraph(f"{shipment.item_count} items. Thank you for your order.", _STYLES["Normal"]))
    return _pdf(story, f"Packing slip {shipment.number}")


def label_pdf(shipment: Shipment, origin: Location, service_name: str) -> bytes:
    """A 4x6 inch thermal label: from, ship to, service, weight, zone and the tracking number as Code 128."""
    label = shipment.label
    assert label is not None, "only shipped shipments have a label"
    weight_g = sum(p.weight_grams for p in shipment.packages) or label.billable_weight_grams
    return _label_pdf(
        label,
        sender=[origin.name, *_address_lines(origin.address)],
        recipient=_address_lines(shipment.destination),
        service_name=service_name,
        weight_g=weight_g,
        packages=max(1, len(shipment.packages)),
        reference=shipment.number,
        footer=_flags(shipment.handling) if shipment.handling else None,
    )


def return_label_pdf(ret: Return, sender: Address, destination: Location) -> bytes:
    """The shopper's prepaid return label, same layout and Code 128 barcode as an outbound label."""
    label = ret.label
    assert label is not None, "only MAIL returns have a label"
    paid = "RETURN - POSTAGE PAID" if ret.label_paid_by is ShippingPayer.RETAILER else "RETURN - DEDUCTED FROM REFUND"
    return _label_pdf(
        label,
        sender=_address_lines(sender),
        recipient=[f"RETURNS - {destination.name}", *_address_lines(destination.address)],
        service_name=label.service_name or label.service,
        weight_g=label.billable_weight_grams,
        packages=1,
        reference=f"{ret.number} ({ret.item_count} items)",
        footer=paid,
    )


def _label_pdf(
    label: Label, *, sender: list[str], recipient: list[str], service_name: str, weight_g: int, packages: int,
    reference: str, footer: str | None,
) -> bytes:
    buffer = io.BytesIO()
    pdf = Canvas(buffer, pagesize=LABEL_SIZE)
    pdf.setTitle(f"Label {label.tracking_number}")
    width, height = LABEL_SIZE
    margin = 0.15 * inch
    y = height - margin - 8
    pdf.setFont("Helvetica", 7)
    for text in ["FROM:", *sender]:
        pdf.drawString(margin, y, text)
        y -= 8.5
    pdf.line(margin, y, width - margin, y)
    y -= 14
    pdf.setFont("Helvetica-Bold", 9)
    pdf.drawString(margin, y, "SHIP TO:")
    y -= 14
    pdf.setFont("Helvetica-Bold", 12)
    for text in recipient:
        pdf.drawString(margin + 10, y, text)
        y -= 14
    y -= 2
    pdf.line(margin, y, width - margin, y)
    y -= 24
    pdf.setFont("Helvetica-Bold", 16)
    pdf.drawString(margin, y, service_name.upper())
    pdf.setFont("Helvetica-Bold", 22)
    pdf.drawRightString(width - margin, y, f"Z{label.zone}")
    y -= 16
    pdf.setFont("Helvetica", 9)
    pdf.drawString(margin, y, f"WEIGHT: {weight_g / GRAMS_PER_LB:.1f} LB ({weight_g / 1000:.2f} KG)   PKGS: {packages}")
    y -= 11
    pdf.drawString(margin, y, f"SHIP DATE: {label.purchased_at:%Y-%m-%d}   EST. DELIVERY: {label.estimated_delivery.isoformat()}")
    y -= 11
    pdf.drawString(margin, y, f"REF: {reference}")
    y -= 6
    pdf.line(margin, y, width - margin, y)
    barcode = Code128(label.tracking_number, barHeight=0.9 * inch, barWidth=0.014 * inch, quiet=True)
    y -= 0.9 * inch + 14
    barcode.drawOn(pdf, (width - barcode.width) / 2, y)
    y -= 14
    pdf.setFont("Helvetica-Bold", 11)
    pdf.drawCentredString(width / 2, y, f"TRACKING #: {label.tracking_number}")
    if footer:
        pdf.setFont("Helvetica-Bold", 10)
        pdf.drawCentredString(width / 2, margin + 6, footer)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def purchase_order_pdf(po: PurchaseOrder, supplier: Supplier, receiving: Location) -> bytes:
    """The PO sent to the supplier: supplier, receiving location, lines, totals, expected date, and
    the PO number as a Code 128 barcode (scanned at the receiving dock to open the PO)."""
    barcode = Code128(po.number, barHeight=0.6 * inch, barWidth=0.012 * inch, quiet=True)
    expected = po.expected_at.strftime("%Y-%m-%d") if po.expected_at else "on submission"
    story: list[object] = [
        Paragraph(f"Purchase order {po.number}", _STYLES["Title"]),
        barcode,
        Spacer(1, 8),
        Paragraph(f"Status {po.status.value}. Created {po.created_at:%Y-%m-%d}. Expected {expected}.", _STYLES["Normal"]),
        Spacer(1, 8),
    ]
    contact = [c for c in (supplier.contact_email, supplier.contact_phone) if c]
    parties = [
        ["Supplier", "Deliver to"],
        ["\n".join([f"{supplier.name} ({supplier.code})", *contact, f"Lead time {supplier.lead_time_days} days"]),
         "\n".join([receiving.name, *_address_lines(receiving.address)])],
    ]
    story += [Table(parties, colWidths=[3.3 * inch, 3.3 * inch], style=_GRID), Spacer(1, 10)]
    money = lambda cents: f"{cents / 100:,.2f} {po.currency}"  # noqa: E731
    rows = [["Line", "SKU", "Supplier SKU", "Qty", "Unit cost", "Amount"]] + [
        [line.id, line.sku, line.supplier_sku, str(line.quantity), money(line.unit_cost_cents), money(line.quantity * line.unit_cost_cents)]
        for line in po.lines
    ]
    rows.append(["", "", "", str(sum(line.quantity for line in po.lines)), "Total", money(po.total_cents)])
    story += [Table(rows, repeatRows=1, style=_GRID, colWidths=[0.5 * inch, 1.3 * inch, 1.3 * inch, 0.6 * inch, 1.3 * inch, 1.5 * inch])]
    if po.note:
        story += [Spacer(1, 8), Paragraph(po.note, _STYLES["Normal"])]
    return _pdf(story, f"Purchase order {po.number}")
