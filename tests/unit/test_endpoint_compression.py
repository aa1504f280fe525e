"""Request body decoding (every frame of a multi-frame body) and response encoders."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from collections.abc import Callable, Iterator

import lz4.frame
import pytest
import zstandard

from retail_platform.warehouse.endpoint.compression import choose_encoder, decode_frames
from retail_platform.warehouse.endpoint.errors import EndpointError

PARTS = [f"part {i}: ".encode() + bytes(range(256)) * (i + 1) for i in range(5)]
WHOLE = b"".join(PARTS)

ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "lz4": lz4.frame.compress,
    "zstd": zstandard.ZstdCompressor().compress,
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "xz": lzma.compress,
    "bz2": bz2.compress,
}


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
@pytest.mark.parametrize("piece", [1, 7, 4096, 1 << 20])
def test_every_frame_is_decoded_whatever_the_chunking(encoding: str, piece: int) -> None:
    body = b"".join(ENCODERS[encoding](part) for part in PARTS)
    assert b"".join(decode_frames(pieces(body, piece), encoding)) == WHOLE


def test_single_lz4_frame_decoder_would_lose_rows() -> None:
    """The bug this guards against: one decompressor stops at the end of the first frame."""
    body = b"".join(lz4.frame.compress(part) for part in PARTS)
    assert lz4.frame.LZ4FrameDecompressor().decompress(body) == PARTS[0]
    assert b"".join(decode_frames([body], "LZ4")) == WHOLE


@pytest.mark.parametrize("encoding", ["", "identity", "none"])
def test_identity(encoding: str) -> None:
    assert list(decode_frames(iter([b"a", b"b"]), encoding)) == [b"a", b"b"]


def test_truncated_body_is_an_error() -> None:
    body = lz4.frame.compress(WHOLE)
    with pytest.raises(EndpointError) as error:
        b"".join(decode_frames([body[:-10]], "lz4"))
    assert error.value.code == 271 and "truncated" in error.value.text


def test_corrupt_body_is_an_error() -> None:
    with pytest.raises(EndpointError) as error:
        b"".join(decode_frames([b"not gzip at all"], "gzip"))
    assert error.value.name == "CANNOT_DECOMPRESS"


def test_unknown_encoding_is_not_implemented() -> None:
    with pytest.raises(EndpointError) as error:
        list(decode_frames([b"x"], "snappy"))
    assert error.value.code == 48 and error.value.http_status == 501


def _decode_response(name: str, data: bytes) -> bytes:
    if name == "lz4":
        decoder = lz4.frame.LZ4FrameDecompressor()  # as clickhouse-connect reads it: one decompressor
        return decoder.decompress(data)
    if name == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return gzip.decompress(data) if name == "gzip" else zlib.decompress(data)


@pytest.mark.parametrize(
    "accept, expected", [("lz4", "lz4"), ("zstd, gzip", "zstd"), ("br, gzip;q=0.9", "gzip"), ("deflate", "deflate")]
)
def test_response_encoders_produce_one_decodable_stream(accept: str, expected: str) -> None:
    encoder = choose_encoder(accept)
    assert encoder is not None and encoder.name == expected
    out = b"".join(encoder.compress(part) + encoder.flush_block() for part in PARTS) + encoder.finish()
    assert _decode_response(expected, out) == WHOLE


def test_no_supported_encoding() -> None:
    assert choose_encoder("br, snappy") is None
    assert choose_encoder("") is None
