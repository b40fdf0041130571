"""GTIN barcodes (GS1): EAN-8, UPC-A (GTIN-12), EAN-13 and GTIN-14, with their mod-10 check digit."""

from __future__ import annotations

GTIN_LENGTHS = (8, 12, 13, 14)


def check_digit(body: str) -> int:
    """The GS1 check digit for the digits before it: weights 3, 1, 3, ... from the right."""
    total = sum(int(digit) * (3 if position % 2 == 0 else 1) for position, digit in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def gtin_problem(barcode: str) -> str | None:
    """Why `barcode` is not a GTIN, or None when it is one."""
    if not barcode.isascii() or not barcode.isdigit():
        return "a barcode is a GTIN: digits only"
    if len(barcode) not in GTIN_LENGTHS:
        return "a barcode is a GTIN of 8, 12, 13 or 14 digits"
    if check_digit(barcode[:-1]) != int(barcode[-1]):
        return f"check digit of {barcode} should be {check_digit(barcode[:-1])}"
    return None


def gtin14(barcode: str) -> str:
    """The GTIN-14 form (left-padded with zeros): a UPC-A and the EAN-13 with a leading 0 are one
    barcode, so uniqueness and lookups compare this form."""
    return barcode.rjust(14, "0")


def looks_like_gtin(text: str) -> bool:
    """Digits of a GTIN length: worth an exact barcode lookup (the check digit is not required to search)."""
    return text.isascii() and text.isdigit() and len(text) in GTIN_LENGTHS
