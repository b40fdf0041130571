"""The catalog as the OMS needs it: what a SKU weighs, measures and needs handled with care."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.domain.money import Money


class HandlingFlag(StrEnum):
    FRAGILE = "FRAGILE"
    HAZMAT = "HAZMAT"
    COLD_CHAIN = "COLD_CHAIN"
    OVERSIZE = "OVERSIZE"


@dataclass(frozen=True, slots=True)
class Dimensions:
    length_cm: float
    width_cm: float
    height_cm: float


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    price: Money
    weight_grams: int
    dimensions: Dimensions
    handling: frozenset[HandlingFlag] = frozenset()
    category: str | None = None
    active: bool = True
