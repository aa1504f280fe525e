"""HTTP body codecs: request bodies by Content-Encoding, response bodies by Accept-Encoding.

Clients may send a body as several concatenated frames (clickhouse-connect sends one LZ4 frame per
block; gzip allows several members), and a decompressor object stops at the end of its frame, so
decoding restarts on its ``unused_data`` until the input is exhausted; otherwise rows are lost silently.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

import lz4.frame
import zstandard

from retail_platform.warehouse.endpoint.errors import EndpointError


class _FrameDecoder(Protocol):
    # Read-only: the decompressor objects expose both as properties.
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes) -> bytes: ...


_DECODERS: dict[str, Callable[[], _FrameDecoder]] = {
    "gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    "x-gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    "deflate": lambda: zlib.decompressobj(),
    "zstd": lambda: zstandard.ZstdDecompressor().decompressobj(),
    "lz4": lambda: lz4.frame.LZ4FrameDecompressor(),
    "xz": lambda: lzma.LZMADecompressor(),
    "bz2": lambda: bz2.BZ2Decompressor(),
}
_IDENTITY = ("", "identity", "none")


def check_content_encoding(encoding: str) -> str:
    """The normalised encoding name, or ClickHouse's error for one it does not know."""
    name = encoding.strip().lower()
    if name not in _IDENTITY and name not in _DECODERS:
        raise EndpointError.of(
            "NOT_IMPLEMENTED",
            f"Unknown compression method '{encoding}'. Only {', '.join(sorted(_DECODERS))} are supported",
        )
    return name


def decode_frames(chunks: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    """Decompress a body that may hold any number of concatenated frames or members."""
    name = check_content_encoding(encoding)
    factory = _DECODERS.get(name)
    if factory is None:
        yield from chunks
        return
    decoder: _FrameDecoder | None = None
    try:
        for chunk in chunks:
            data = chunk
            while data:
                if decoder is None:
                    decoder = factory()
                out = decoder.decompress(data)
                if out:
                    yield out
                if decoder.eof:
                    data = decoder.unused_data
                    decoder = None
                else:
                    data = b""
    except EndpointError:
        raise
    except Exception as exc:  # each codec library has its own error class
        raise EndpointError.of("CANNOT_DECOMPRESS", f"Cannot decompress {name} request body: {exc}") from exc
    if decoder is not None:
        raise EndpointError.of("CANNOT_DECOMPRESS", f"The {name} request body ends inside a frame (truncated)")


class Encoder(Protocol):
    name: str

    def compress(self, data: bytes) -> bytes: ...

    def flush_block(self) -> bytes: ...

    def finish(self) -> bytes: ...


class _ZlibEncoder:
    def __init__(self, name: str, level: int) -> None:
        self.name = name
        wbits = 16 + zlib.MAX_WBITS if name == "gzip" else zlib.MAX_WBITS
        self._c = zlib.compressobj(max(1, min(level, 9)), zlib.DEFLATED, wbits)

    def compress(self, data: bytes) -> bytes:
        return self._c.compress(data)

    def flush_block(self) -> bytes:
        return self._c.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._c.flush(zlib.Z_FINISH)


class _ZstdEncoder:
    name = "zstd"

    def __init__(self, level: int) -> None:
        self._c = zstandard.ZstdCompressor(level=level).compressobj()

    def compress(self, data: bytes) -> bytes:
        return self._c.compress(data)

    def flush_block(self) -> bytes:
        return self._c.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)

    def finish(self) -> bytes:
        return self._c.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


class _Lz4Encoder:
    """One LZ4 frame for the whole response: clients decode the stream with a single decompressor."""

    name = "lz4"

    def __init__(self) -> None:
        self._c = lz4.frame.LZ4FrameCompressor(auto_flush=True)
        self._header = self._c.begin()

    def compress(self, data: bytes) -> bytes:
        out: bytes = self._header + self._c.compress(data)  # lz4 has no type information
        self._header = b""
        return out

    def flush_block(self) -> bytes:
        return b""

    def finish(self) -> bytes:
        out: bytes = self._header + self._c.flush()
        self._header = b""
        return out


RESPONSE_ENCODINGS = ("lz4", "zstd", "gzip", "deflate")


def choose_encoder(accept_encoding: str, zlib_level: int = 3) -> Encoder | None:
    """The first encoding in the client's list that the endpoint can produce."""
    for token in accept_encoding.split(","):
        name = token.split(";", 1)[0].strip().lower()
        if name == "lz4":
            return _Lz4Encoder()
        if name == "zstd":
            return _ZstdEncoder(3)
        if name in ("gzip", "x-gzip", "deflate"):
            return _ZlibEncoder("deflate" if name == "deflate" else "gzip", zlib_level)
    return None
