"""The binary tensor data codec: exact against tritonclient's own serializer, and only TensorError on junk."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

from app import tensors
from app.tensors import TensorError

elements = st.lists(st.binary(max_size=40), max_size=20)


@given(elements)
def test_bytes_elements_round_trip_and_match_tritonclient(items: list[bytes]) -> None:
    raw = tensors.encode_bytes_elements(items)
    assert tensors.decode_bytes_elements(raw, len(items)) == items
    official = serialize_byte_tensor(np.array(items, dtype=np.object_))
    assert raw == (official.item() if official.size else b"")
    if items:
        assert list(deserialize_bytes_tensor(raw)) == items


@given(st.binary(max_size=200), st.integers(min_value=0, max_value=64))
def test_any_bytes_decode_or_raise_tensor_error(raw: bytes, limit: int) -> None:
    try:
        decoded = tensors.decode_bytes_elements(raw, limit)
    except TensorError:
        return
    assert len(decoded) <= limit
    assert tensors.encode_bytes_elements(decoded) == raw  # what decodes is exactly what was sent


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=20), st.data())
def test_a_truncated_tensor_never_decodes_to_what_was_sent(items: list[bytes], data: st.DataObject) -> None:
    raw = tensors.encode_bytes_elements(items)
    cut = data.draw(st.integers(min_value=1, max_value=len(raw)))
    try:
        assert tensors.decode_bytes_elements(raw[:-cut], len(items)) != items
    except TensorError:
        pass


def test_element_lengths_past_the_end_are_refused_before_use() -> None:
    with pytest.raises(TensorError, match="states 4294967295 bytes but only 2 remain"):
        tensors.decode_bytes_elements(struct.pack("<I", 0xFFFFFFFF) + b"ab", 8)
    with pytest.raises(TensorError, match="too few for its 4-byte length"):
        tensors.decode_bytes_elements(b"\x01\x00\x00\x00a\x01\x00", 8)


def test_more_elements_than_the_limit_stop_at_the_limit() -> None:
    many = b"\x00\x00\x00\x00" * 100_000  # 100,000 empty elements
    with pytest.raises(TensorError, match="more than 3 elements"):
        tensors.decode_bytes_elements(many, 3)


@pytest.mark.parametrize("element", [b"caf\xe9", b"\xed\xa0\x80 surrogate", b"\xff", b"ok\xc3"])
def test_text_that_is_not_utf8_is_refused_naming_the_element(element: bytes) -> None:
    with pytest.raises(TensorError, match="element 1 is not UTF-8"):
        tensors.utf8_texts([b"fine", element])


def test_utf8_texts_keep_every_character() -> None:
    texts = ["a\x00b", "東京→Zürich", "😀"]
    assert tensors.utf8_texts([text.encode() for text in texts]) == texts


@pytest.mark.parametrize(
    ("declared", "size", "expected"),
    [("10", 20, 10), ("20", 20, 20), (" 7 ", 9, 7)],
)
def test_header_length_within_the_body(declared: str, size: int, expected: int) -> None:
    assert tensors.header_length(declared, size) == expected


@pytest.mark.parametrize(
    "declared",
    ["", "-1", "+5", "1e3", "0x10", "٣", "0", "21", "9" * 30, "9" * 5000, "1 2"],
)
def test_header_lengths_that_are_not_a_size_within_the_body_are_refused(declared: str) -> None:
    with pytest.raises(TensorError):
        tensors.header_length(declared, 20)


def test_split_binary_takes_exactly_the_stated_sizes() -> None:
    assert tensors.split_binary(b"aabbb", [2, 3]) == [b"aa", b"bbb"]
    assert tensors.split_binary(b"", []) == []
    with pytest.raises(TensorError, match="states 4 bytes but only 3 follow"):
        tensors.split_binary(b"aabbb", [2, 4])
    with pytest.raises(TensorError, match="1 bytes of binary data belong to no input"):
        tensors.split_binary(b"aabbb", [2, 2])


@given(st.lists(st.floats(width=32, allow_nan=False), max_size=30))
def test_fp32_round_trips_little_endian_as_numpy_writes_it(values: list[float]) -> None:
    raw = tensors.encode_fp32(values)
    assert raw == np.array(values, dtype="<f4").tobytes()
    assert tensors.decode_fp32(raw) == values
    with pytest.raises(TensorError):
        tensors.decode_fp32(raw + b"\x00")
