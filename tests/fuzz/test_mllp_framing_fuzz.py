"""MLLP framing under arbitrary byte streams: whatever a connection sends, and however the network
splits it, ``next_frame`` and ``unfinished`` never raise, the frames they find are exactly the bytes
between a start block and an end block, and no message over the limit is handed on."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.inbound.mllp_framing import KEPT_PREFIX_BYTES, FrameProblem, next_frame, unfinished

START, END = b"\x0b", b"\x1c\r"
#: Bytes with meaning to the framing, drawn often so that streams are full of near-frames.
FRAMING_BYTES = st.sampled_from([b"\x0b", b"\x1c", b"\r", b"\x1c\r", b"\x0b\x1c\r", b"\x00", b"MSH|^~\\&|"])
SETTINGS = settings(max_examples=1000, deadline=1000)
#: A limit larger than any drawn stream: the stream's splits then cannot change what is found.
NO_LIMIT = 1 << 20


def _chunks(draw, stream: bytes) -> list[bytes]:
    """``stream`` split at arbitrary points, as TCP may deliver it."""
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    bounds = [0, *cuts, len(stream)]
    return [stream[a:b] for a, b in zip(bounds, bounds[1:])]


def _read(chunks: list[bytes], limit: int) -> tuple[list, bytearray]:
    """What the listener does: append each chunk, then take frames until more bytes are needed
    or the connection must close."""
    buffer, frames = bytearray(), []
    for chunk in chunks:
        buffer += chunk
        while True:
            frame, close = next_frame(buffer, limit)
            if frame is None:
                break
            frames.append(frame)
            if close:
                return frames, buffer
        # Between reads, the bytes held after the last start block never pass the limit.
        assert len(buffer) - max(buffer.rfind(START), 0) <= limit
    return frames, buffer


def _without(forbidden: bytes, data: bytes) -> bytes:
    while forbidden in data:  # removing one may join its neighbours into another
        data = data.replace(forbidden, b"")
    return data


message_bytes = st.lists(st.one_of(st.binary(max_size=30), FRAMING_BYTES), max_size=8).map(b"".join)
#: Bytes a message may hold: no start block, and no end block (a lone 0x1c or CR is fine).
message_body = message_bytes.map(lambda b: _without(END, b.replace(START, b"")).rstrip(b"\x1c"))
#: Stray bytes between frames: anything but an end block.
stray = message_bytes.map(lambda b: _without(END, b).rstrip(b"\x1c"))


@st.composite
def framed_stream(draw):
    """A stream of frames, some after stray bytes, some stray bytes ended as if a frame; the
    frames each part should give; and the stream split at arbitrary points."""
    parts, expected = [], []
    for _ in range(draw(st.integers(0, 6))):
        junk = draw(stray)
        if draw(st.booleans()):
            body = draw(message_body)
            parts.append(junk + START + body + END)
            expected.append((body, None))
        elif junk.rfind(START) < 0:
            parts.append(junk + END)
            expected.append((junk, FrameProblem.OUTSIDE_FRAME))
    tail = draw(st.one_of(st.just(b""), message_body.map(lambda b: START + b)))
    stream = b"".join(parts) + tail
    return stream, expected, tail, _chunks(draw, stream)


@pytest.mark.timeout(60)
@SETTINGS
@given(case=framed_stream())
def test_frames_found_are_exactly_those_between_start_and_end_blocks_however_split(case):
    stream, expected, tail, chunks = case
    frames, left = _read(chunks, NO_LIMIT)
    assert [(f.data, f.kind) for f in frames] == expected
    assert bytes(left) == tail
    ended = unfinished(left, FrameProblem.CUT_OFF, "cut off")
    if tail.strip(b"\r\n \t\x00\x0b"):
        assert ended is not None and ended.kind == FrameProblem.CUT_OFF
        assert ended.data == tail.lstrip(START)


@st.composite
def arbitrary_stream(draw):
    stream = draw(st.lists(st.one_of(st.binary(max_size=60), FRAMING_BYTES), max_size=20).map(b"".join))
    return draw(st.integers(1, 80)), _chunks(draw, stream)


@pytest.mark.timeout(60)
@SETTINGS
@given(case=arbitrary_stream())
def test_arbitrary_streams_never_raise_and_no_frame_passes_the_limit(case):
    limit, chunks = case
    frames, left = _read(chunks, limit)
    for frame in frames:
        if frame.problem is None:
            assert len(frame.data) <= limit
            assert START not in frame.data and END not in frame.data
        else:
            assert frame.kind in (FrameProblem.OUTSIDE_FRAME, FrameProblem.OVERSIZED)
            assert len(frame.data) <= KEPT_PREFIX_BYTES
    for kind in (FrameProblem.CUT_OFF, FrameProblem.IDLE):
        ended = unfinished(bytearray(left), kind, "ended")
        assert ended is None or (ended.kind == kind and len(ended.data) <= KEPT_PREFIX_BYTES)


@pytest.mark.timeout(60)
@settings(max_examples=200, deadline=1000)
@given(data=st.binary(min_size=1, max_size=200), limit=st.integers(1, 100))
def test_a_message_over_the_limit_is_refused_and_the_connection_closed(data, limit):
    stream = START + data.replace(START, b"x").replace(b"\x1c", b"x") + b"x" * limit + END
    frames, _ = _read([stream], limit)
    assert frames[-1].kind == FrameProblem.OVERSIZED


def test_a_stream_of_restarted_frames_is_not_held_past_the_limit():
    """Found by fuzzing: a start block every few bytes and never an end block was held whole."""
    limit = 100
    frames, left = _read([START + b"a" * 50] * 100, limit)
    assert frames or len(left) <= 2 * limit
