"""Skipping repeated records: the Kafka engine may write an event twice when a send's
acknowledgement was lost and the retry wrote it again (same ``eventId``, right after;
docs/log-engines.md "Broker outages"). A reader that must not count an event twice keeps the
last :data:`WINDOW` eventIds it applied and skips a record whose eventId is among them."""

from __future__ import annotations

from collections import OrderedDict

#: eventIds remembered: far more than one retried send holds (at most a group commit of
#: 4,000 events), so a repeat always falls inside the window.
WINDOW = 50_000


class RecentIds:
    """The last ``size`` eventIds seen. ``repeat(id)`` → True if seen, else remembers it."""

    def __init__(self, size: int = WINDOW) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()
        self.repeats = 0

    def repeat(self, event_id: str) -> bool:
        if event_id in self._ids:
            self.repeats += 1
            return True
        self._ids[event_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return False
