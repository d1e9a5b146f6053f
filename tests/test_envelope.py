"""The event envelope (domain/envelope.py) and the position type
(domain/log.py): exact JSON round-trip, unknown schema versions, ids, position strings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargelog.domain.envelope import (
    Event, EventDecodeError, Principal, Source, UnknownSchemaVersion, derived_event_id, new_event_id,
)
from chargelog.domain.log import InvalidPosition, Position

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
events = st.builds(
    Event,
    type=st.sampled_from(["ocpp.frame", "transaction.started", "meter.update"]),
    chargePointId=st.text(min_size=1, max_size=20),
    occurredAt=moments,
    recordedAt=moments,
    source=st.sampled_from(list(Source)),
    principal=st.none() | st.builds(Principal, kind=st.sampled_from(["chargePoint", "user"]), id=st.text(max_size=10)),
    correlationId=st.none() | st.text(max_size=12),
    causationId=st.none() | st.text(max_size=12),
    payload=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
)


@given(events)
def test_json_encoding_round_trips_exactly(event: Event) -> None:
    data = event.encode()
    decoded = Event.decode(data)
    assert decoded == event
    assert decoded.encode() == data


def test_unknown_schema_version_names_the_position() -> None:
    data = Event(type="meter.update", schemaVersion=2).encode()
    with pytest.raises(UnknownSchemaVersion) as caught:
        Event.decode(data, "3-17")
    assert caught.value.position == "3-17"
    assert "3-17" in str(caught.value) and "schemaVersion 2" in str(caught.value)
    with pytest.raises(UnknownSchemaVersion):
        Event.decode(Event(type="meter.update", schemaVersion=0).encode())


def test_invalid_envelope_is_a_decode_error_naming_the_position() -> None:
    with pytest.raises(EventDecodeError, match="0-5"):
        Event.decode(b'{"type": "x", "unexpected": 1}', "0-5")
    with pytest.raises(EventDecodeError):
        Event.decode(b"not json")


def test_event_ids_are_unique_and_time_ordered() -> None:
    ids = [new_event_id() for _ in range(1000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 7 for i in ids)


def test_derived_event_ids_are_deterministic_and_sort_with_their_source() -> None:
    source = new_event_id()
    derived = [derived_event_id(source, i) for i in range(3)]
    assert derived == [derived_event_id(source, i) for i in range(3)]
    assert len(set(derived)) == 3
    assert all(uuid.UUID(d).version == 8 and d[:13] == source[:13] for d in derived)


offset_vectors = st.dictionaries(st.integers(0, 64), st.integers(0, 10**12), max_size=8)


@given(offset_vectors)
def test_position_string_round_trip(offsets: dict[int, int]) -> None:
    position = Position(offsets)
    assert Position.parse(str(position)) == position
    assert position.total == sum(offsets.values())


@given(offset_vectors, offset_vectors)
def test_position_comparison_is_component_wise(a: dict[int, int], b: dict[int, int]) -> None:
    pa, pb = Position(a), Position(b)
    merged = pa.merged(pb)
    assert pa <= merged and pb <= merged
    assert (pa <= pb) == all(o <= pb.get(p) for p, o in a.items())
    assert not (pa < pb and pb < pa)


@pytest.mark.parametrize("text", ["x", "1", "0-1.x", "-1-2", "0-1-2", "0--3"])
def test_position_parse_rejects_what_no_log_wrote(text: str) -> None:
    with pytest.raises(InvalidPosition):
        Position.parse(text)
