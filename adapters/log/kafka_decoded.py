"""One decoded copy per process of the Kafka records its readers read (docs/log-engines.md,
"Kafka engine: decoded once per process").

Every in-process reader of a Kafka stream (translator, projections, the API's hub, the
gateway's followers) has a consumer of its own, so each fetches the same record. Decoding the
JSON envelope into an :class:`~chargelog.domain.envelope.Event` is the costly part of reading
(pydantic validation); :class:`DecodedRecords` keeps the last :data:`DECODED_PER_STREAM`
decoded events of each stream, keyed by (partition, offset), so the first reader decodes a
record and the others take its event.

Sound because a record at (topic, partition, offset) never changes; a hit is still taken only
when the fetched bytes equal the bytes that were decoded (a byte comparison, far cheaper than
a decode), so a topic deleted and re-created under the same name cannot hand out a stale event.
Decode errors are not kept: each reader raises its own, naming the record's position.
"""

from __future__ import annotations

from collections import OrderedDict

from chargelog.domain.envelope import Event, EventDecodeError
from chargelog.domain.log import Position

#: Decoded events kept per stream: live readers of one process are within a fetch (FETCH_BATCH,
#: 500 records) of each other; each kept event costs a few KB.
DECODED_PER_STREAM = 1024


class DecodedRecords:
    """The last :data:`DECODED_PER_STREAM` decoded events per topic, by (partition, offset)."""

    def __init__(self, per_stream: int = DECODED_PER_STREAM) -> None:
        self.per_stream = per_stream
        self._topics: dict[str, OrderedDict[tuple[int, int], tuple[bytes, Event]]] = {}
        self.hits = 0
        self.decodes = 0

    def event(self, topic: str, partition: int, offset: int, value: bytes) -> Event:
        """The event stored as ``value`` at ``partition``/``offset`` of ``topic``: the copy
        another reader decoded, else decoded now (and kept). Raises
        :class:`~chargelog.domain.envelope.EventDecodeError` naming the log position just past
        the record (as ``append`` returned it) for bytes that are no valid envelope."""
        kept = self._topics.get(topic)
        if kept is None:
            kept = self._topics[topic] = OrderedDict()
        key = (partition, offset)
        hit = kept.get(key)
        if hit is not None and hit[0] == value:
            self.hits += 1
            return hit[1]
        try:
            event = Event.decode(value)
        except EventDecodeError:
            event = Event.decode(value, str(Position({partition: offset + 1})))  # raises, naming it
        self.decodes += 1
        kept[key] = (value, event)
        if len(kept) > self.per_stream:
            kept.popitem(last=False)  # the oldest decoded (O(1): a dict's first key is not, after deletes)
        return event
