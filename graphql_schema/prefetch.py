"""Look-ahead loading for lists: a list resolver loads, in one batch per loader, the references its
selection will ask for, so the nested fields resolve synchronously.

Why: an async field costs far more than a plain one in graphql-core 3.3 (a coroutine and a
scheduled task per item). For a page of 100 orders asking for customer, channel and products,
resolving those synchronously from primed loaders halved the execution time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
G = TypeVar("G")


def selected_paths(selections: Iterable[Selection], prefix: str = "") -> frozenset[str]:
    """Dotted GraphQL field paths under a field, fragments flattened: {"edges", "edges.node", ...}."""
    paths: set[str] = set()
    for selection in selections:
        if isinstance(selection, SelectedField):
            path = f"{prefix}{selection.name}"
            paths.add(path)
            paths |= selected_paths(selection.selections, f"{path}.")
        elif isinstance(selection, (FragmentSpread, InlineFragment)):
            paths |= selected_paths(selection.selections, prefix)
    return frozenset(paths)


def now_or_later(loader: DataLoader[K, V | None], key: K, convert: Callable[[V], G]) -> G | None | Awaitable[G | None]:
    """The converted value right away when the loader already holds it, else an awaitable.

    Resolvers using this are plain `def`s: graphql-core awaits an awaitable result when one comes back.
    """
    future = loader.cache_map.get(key)
    if future is not None and future.done() and not future.cancelled() and future.exception() is None:
        value = future.result()
        return None if value is None else convert(value)
    return _load(loader, key, convert)


async def _load(loader: DataLoader[K, V | None], key: K, convert: Callable[[V], G]) -> G | None:
    value = await loader.load(key)
    return None if value is None else convert(value)


async def prime(loader: DataLoader[K, Any], keys: Iterable[K]) -> None:
    unique = list(dict.fromkeys(keys))
    if unique:
        await loader.load_many(unique)
