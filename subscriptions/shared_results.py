"""One execution and one JSON encoding per event for every alike subscription.

Subscriptions are alike when they run the same document with the same variables for callers of the
same scope (role, locations, channel, customer: what decides what a caller may see): for one event
their results are the same text, so the first to need it computes it and the others reuse it. The
key of a group is built by the caller (graphql_schema/live_frames.py); whatever it leaves out is
never shared. A result with errors is not shared either (`None`): each subscriber then runs its
own, with its own request id in its errors.

Kept for the most recent `window` events only: a subscriber further behind computes its own.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable, Hashable


class _Abandoned(Exception):
    """The subscriber computing a result went away before it finished: the others compute their own."""


class SharedResults:
    __slots__ = ("_by_seq", "_window", "executions", "reused", "senders")

    def __init__(self, window: int = 512):
        self._window = window
        self._by_seq: collections.OrderedDict[int, dict[Hashable, asyncio.Future[str | None]]] = collections.OrderedDict()
        self.executions = 0  # results computed (tests count them: one per event and group)
        self.reused = 0  # results handed to a further subscriber of a group
        self.senders = 0  # live subscriptions their connections send now (graphql_schema/live_frames.py)

    async def text(self, group: Hashable, seq: int, compute: Callable[[], Awaitable[str | None]]) -> str | None:
        """The group's result for event `seq`: computed by the first subscriber that asks, shared
        with the rest. None: not shareable (the result had errors), the caller runs its own."""
        results = self._by_seq.get(seq)
        if results is None:
            results = self._by_seq[seq] = {}
            while len(self._by_seq) > self._window:
                self._by_seq.popitem(last=False)
        known = results.get(group)
        if known is not None:
            try:
                text = known.result() if known.done() else await asyncio.shield(known)
            except _Abandoned:
                return await self._compute(compute)
            if text is not None:
                self.reused += 1
            return text
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        results[group] = future
        try:
            text = await self._compute(compute)
        except BaseException:
            if results.get(group) is future:
                del results[group]
            future.set_exception(_Abandoned())
            future.exception()  # retrieved: nobody may be waiting
            raise
        future.set_result(text)
        return text

    async def _compute(self, compute: Callable[[], Awaitable[str | None]]) -> str | None:
        self.executions += 1
        return await compute()
