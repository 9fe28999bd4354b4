"""The Open Inference Protocol's binary tensor data extension, as pure functions over bytes.

Both official clients (tritonclient, kserve) send tensors as raw bytes after the JSON header by default:
the body is `JSON header | tensor 0 | tensor 1 | ...`, the `Inference-Header-Content-Length` header gives
the header's size, and each binary input states its size in `parameters.binary_data_size`. A BYTES tensor
is its elements one after another, each a 4-byte little-endian length and that many bytes; an FP32 tensor
is little-endian IEEE floats in row-major order. Everything a body declares (the header's length, each
tensor's size, each element's length) is checked against the bytes actually there before it is used, so a
malformed body is a `TensorError` (a 400 to the handler), never an exception from deep inside, and never
more work than the body's own size.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

LENGTH = struct.Struct("<I")  # the length prefix of one BYTES element
MAX_HEADER_DIGITS = 12  # a header length beyond this many digits is past any body the service reads


class TensorError(ValueError):
    """The body's tensor data is malformed; the message says where, for the client."""


def header_length(declared: str, body_size: int) -> int:
    """The JSON header's size from `Inference-Header-Content-Length`: decimal digits, within the body."""
    value = declared.strip()
    if not value.isascii() or not value.isdigit() or len(value) > MAX_HEADER_DIGITS:
        raise TensorError(f"must be the JSON header's size in bytes, got '{declared[:40]}'")
    length = int(value)
    if length == 0 or length > body_size:
        raise TensorError(f"a JSON header of {length} bytes does not fit a body of {body_size} bytes")
    return length


def split_binary(data: bytes, sizes: Sequence[int]) -> list[bytes]:
    """The binary section cut into one piece per stated size, in order; it must hold exactly those bytes."""
    pieces: list[bytes] = []
    offset = 0
    for index, size in enumerate(sizes):
        if size > len(data) - offset:
            raise TensorError(
                f"binary tensor {index} states {size} bytes but only {len(data) - offset} follow the header"
            )
        pieces.append(data[offset : offset + size])
        offset += size
    if offset != len(data):
        raise TensorError(f"{len(data) - offset} bytes of binary data belong to no input")
    return pieces


def decode_bytes_elements(raw: bytes, limit: int) -> list[bytes]:
    """The elements of a binary BYTES tensor; more than `limit` elements is refused as soon as it is seen,
    so a body of many tiny elements costs no more than `limit` steps."""
    elements: list[bytes] = []
    offset, size = 0, len(raw)
    view = memoryview(raw)
    while offset < size:
        if len(elements) == limit:
            raise TensorError(f"the BYTES tensor holds more than {limit} elements")
        if size - offset < LENGTH.size:
            raise TensorError(f"element {len(elements)}: {size - offset} bytes left, too few for its 4-byte length")
        (length,) = LENGTH.unpack_from(raw, offset)
        offset += LENGTH.size
        if length > size - offset:
            raise TensorError(f"element {len(elements)} states {length} bytes but only {size - offset} remain")
        elements.append(bytes(view[offset : offset + length]))
        offset += length
    return elements


def utf8_texts(elements: Sequence[bytes]) -> list[str]:
    """BYTES elements as text; an element that is not UTF-8 is refused, naming its index."""
    texts = []
    for index, element in enumerate(elements):
        try:
            texts.append(element.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise TensorError(f"element {index} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return texts


def encode_bytes_elements(elements: Iterable[bytes]) -> bytes:
    """A binary BYTES tensor: each element prefixed with its 4-byte little-endian length."""
    return b"".join(LENGTH.pack(len(element)) + element for element in elements)


def encode_fp32(values: Sequence[float]) -> bytes:
    """A binary FP32 tensor: little-endian floats in row-major order."""
    return struct.pack(f"<{len(values)}f", *values)


def decode_fp32(raw: bytes) -> list[float]:
    """The floats of a binary FP32 tensor (its size must be a multiple of 4)."""
    if len(raw) % 4:
        raise TensorError(f"an FP32 tensor of {len(raw)} bytes is not a whole number of floats")
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))
