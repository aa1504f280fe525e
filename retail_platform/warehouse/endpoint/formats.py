"""How each output format can be streamed out of the engine, and the Content-Type ClickHouse gives it.

The engine's streaming API formats every chunk as a complete, independent output. For row formats
without a prefix or suffix the chunks simply concatenate; an ArrowStream chunk repeats the schema
and the end-of-stream marker, which are dropped between chunks; every other format (JSON, Pretty,
Parquet, the *WithNames variants, ...) is produced whole by the engine and then sent.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator

import pyarrow as pa


class StreamMode(enum.Enum):
    CONCAT = "concat"
    ARROW_STREAM = "arrow_stream"
    WHOLE = "whole"


_CONCATENABLE = {
    name.lower()
    for name in (
        "Native TabSeparated TSV TabSeparatedRaw TSVRaw Raw CSV JSONEachRow JSONLines NDJSON JSONCompactEachRow "
        "JSONStringsEachRow JSONCompactStringsEachRow RowBinary TSKV Null MsgPack BSONEachRow LineAsString RawBLOB "
        "CustomSeparated"
    ).split()
}

_CONTENT_TYPES = {
    "tabseparated": "text/tab-separated-values; charset=UTF-8",
    "tsv": "text/tab-separated-values; charset=UTF-8",
    "tabseparatedwithnames": "text/tab-separated-values; charset=UTF-8",
    "tabseparatedwithnamesandtypes": "text/tab-separated-values; charset=UTF-8",
    "tsvwithnames": "text/tab-separated-values; charset=UTF-8",
    "tsvwithnamesandtypes": "text/tab-separated-values; charset=UTF-8",
    "csv": "text/csv; charset=UTF-8; header=absent",
    "csvwithnames": "text/csv; charset=UTF-8; header=present",
    "csvwithnamesandtypes": "text/csv; charset=UTF-8; header=present",
    "json": "application/json; charset=UTF-8",
    "jsoncompact": "application/json; charset=UTF-8",
    "jsonstrings": "application/json; charset=UTF-8",
    "jsoneachrow": "application/x-ndjson; charset=UTF-8",
    "jsonlines": "application/x-ndjson; charset=UTF-8",
    "ndjson": "application/x-ndjson; charset=UTF-8",
    "xml": "application/xml; charset=UTF-8",
}
_BINARY = {"native", "rowbinary", "rowbinarywithnames", "rowbinarywithnamesandtypes", "arrow", "arrowstream"}
_BINARY |= {"parquet", "orc", "avro", "msgpack", "bsoneachrow", "protobuf", "rawblob", "npy"}


def stream_mode(fmt: str) -> StreamMode:
    name = fmt.lower()
    if name in _CONCATENABLE:
        return StreamMode.CONCAT
    if name == "arrowstream":
        return StreamMode.ARROW_STREAM
    return StreamMode.WHOLE


def content_type(fmt: str) -> str:
    name = fmt.lower()
    if name in _CONTENT_TYPES:
        return _CONTENT_TYPES[name]
    if name in _BINARY:
        return "application/octet-stream"
    return "text/plain; charset=UTF-8"


ARROW_END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"


class ArrowStreamJoiner:
    """Re-frames per-chunk Arrow IPC streams as one stream: one schema, all batches, one end marker."""

    def __init__(self) -> None:
        self._schema_sent = False

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        reader = pa.ipc.MessageReader.open_stream(pa.py_buffer(chunk))
        while True:
            try:
                message = reader.read_next_message()
            except StopIteration:
                break
            if message is None:
                break
            if message.type == "schema":
                if self._schema_sent:
                    continue
                self._schema_sent = True
            yield message.serialize().to_pybytes()

    def finish(self) -> bytes:
        return ARROW_END_OF_STREAM
