"""Time-ordered identifiers, generated before insert so one transaction can reference them."""

from __future__ import annotations

import itertools
import os
import threading
import time

_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_process_unique = os.urandom(5)
_lock = threading.Lock()


def new_id() -> str:
    """24 hex characters laid out like a BSON ObjectId: seconds, process-unique bytes, counter.

    Sorting these strings sorts by creation second, which keyset pagination relies on.
    """
    with _lock:
        count = next(_counter) & 0xFFFFFF
    return (int(time.time()).to_bytes(4, "big") + _process_unique + count.to_bytes(3, "big")).hex()
