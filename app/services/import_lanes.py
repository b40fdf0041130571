"""Rows written one transaction each, several at a time, without changing what a file means.

Importers that write a row per transaction (locations, customers) spend most of a row waiting on
the database, so rows run concurrently; but two rows about the same thing (one location code, one
customer's email, phone or identity) must apply in file order, so the last one wins as it would
one at a time. Rows are put in lanes: rows that share a key (directly or through other rows) go
in one lane, in file order; lanes run side by side, `concurrency` at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_CONCURRENCY = 8


def lanes(items: Sequence[T], keys: Callable[[T], Iterable[Hashable]]) -> list[list[int]]:
    """Indexes of `items` grouped so that items sharing a key are in one group, each in order."""
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[Hashable, int] = {}
    for index, item in enumerate(items):
        for key in keys(item):
            if key in owner:
                a, b = root(owner[key]), root(index)
                parent[max(a, b)] = min(a, b)
            else:
                owner[key] = index
    groups: dict[int, list[int]] = {}
    for index in range(len(items)):
        groups.setdefault(root(index), []).append(index)
    return list(groups.values())


async def in_lanes(
    items: Sequence[T],
    keys: Callable[[T], Iterable[Hashable]],
    work: Callable[[T], Awaitable[R]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[R]:
    """`work(item)` for every item, results in input order. A failure cancels the rest and is raised
    (what committed stays committed: each item is its own transaction)."""
    results: list[R | None] = [None] * len(items)
    gate = asyncio.Semaphore(concurrency)

    async def run(lane: list[int]) -> None:
        async with gate:
            for index in lane:
                results[index] = await work(items[index])

    try:
        async with asyncio.TaskGroup() as group:
            for lane in lanes(items, keys):
                group.create_task(run(lane))
    except ExceptionGroup as failed:
        # The first failure as itself, so callers tell a database outage (retry later) from a bug.
        raise failed.exceptions[0] from None
    return results  # type: ignore[return-value]
