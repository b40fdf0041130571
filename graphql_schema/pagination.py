"""Relay connections built from domain pages."""

from __future__ import annotations

from typing import Callable, TypeVar

from strawberry import relay

from app.domain.pagination import DEFAULT_PAGE_SIZE, Page, PageRequest

D = TypeVar("D")
N = TypeVar("N")


def page_request(first: int | None, after: str | None) -> PageRequest:
    """Validates `first` (0..100) through the domain; a bad value becomes a typed INVALID_INPUT error."""
    return PageRequest(first=DEFAULT_PAGE_SIZE if first is None else first, after=after)


def page_info(page: Page[D]) -> relay.PageInfo:
    return relay.PageInfo(
        has_next_page=page.has_next_page,
        has_previous_page=page.has_previous_page,
        start_cursor=page.cursors[0] if page.cursors else None,
        end_cursor=page.cursors[-1] if page.cursors else None,
    )


def edges(page: Page[D], make_node: Callable[[D], N], make_edge: Callable[..., object]) -> list:
    return [make_edge(cursor=cursor, node=make_node(item)) for item, cursor in zip(page.items, page.cursors)]
