"""Reference data: channels, locations and products. Readable by every authenticated caller."""

from __future__ import annotations

from app.domain.channels import Channel
from app.domain.locations import Location, LocationKind
from app.domain.products import Product
from app.repositories.channels import ChannelRepository
from app.repositories.locations import LocationRepository
from app.repositories.products import ProductRepository


class CatalogService:
    def __init__(self, *, channels: ChannelRepository, locations: LocationRepository, products: ProductRepository):
        self._channels = channels
        self._locations = locations
        self._products = products

    async def channels(self) -> list[Channel]:
        return await self._channels.all()

    async def channels_by_ids(self, ids: list[str]) -> list[Channel]:
        return await self._channels.by_ids(ids)

    async def locations(
        self,
        *,
        kinds: list[LocationKind] | None = None,
        ships: bool | None = None,
        offers_pickup: bool | None = None,
        accepts_returns: bool | None = None,
        include_inactive: bool = False,
    ) -> list[Location]:
        return await self._locations.list(
            kinds=kinds,
            ships=ships,
            offers_pickup=offers_pickup,
            accepts_returns=accepts_returns,
            active=None if include_inactive else True,
        )

    async def locations_by_ids(self, ids: list[str]) -> list[Location]:
        return await self._locations.by_ids(ids)

    async def products_by_skus(self, skus: list[str]) -> list[Product]:
        return await self._products.by_skus(skus)
