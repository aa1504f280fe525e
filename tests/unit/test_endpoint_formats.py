"""Output formats: which stream as concatenated chunks, and the Arrow stream re-framing."""

from __future__ import annotations

import pyarrow as pa

from retail_platform.warehouse.endpoint.formats import ArrowStreamJoiner, StreamMode, content_type, stream_mode


def ipc_stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def test_stream_modes() -> None:
    assert stream_mode("Native") is StreamMode.CONCAT
    assert stream_mode("tabseparated") is StreamMode.CONCAT
    assert stream_mode("ArrowStream") is StreamMode.ARROW_STREAM
    for fmt in ("JSON", "Arrow", "Parquet", "CSVWithNames", "RowBinaryWithNamesAndTypes", "PrettyCompact"):
        assert stream_mode(fmt) is StreamMode.WHOLE


def test_content_types() -> None:
    assert content_type("TabSeparated") == "text/tab-separated-values; charset=UTF-8"
    assert content_type("Native") == "application/octet-stream"
    assert content_type("JSON").startswith("application/json")
    assert content_type("Pretty") == "text/plain; charset=UTF-8"


def test_arrow_stream_chunks_become_one_stream() -> None:
    """Each engine chunk is a whole IPC stream (schema, batches, end); the client reads one stream."""
    chunks = [ipc_stream(pa.table({"n": list(range(i * 10, i * 10 + 10)), "s": ["x"] * 10})) for i in range(3)]
    joiner = ArrowStreamJoiner()
    joined = b"".join(piece for chunk in chunks for piece in joiner.feed(chunk)) + joiner.finish()
    table = pa.ipc.open_stream(joined).read_all()
    assert table.column("n").to_pylist() == list(range(30))
    assert pa.ipc.open_stream(b"".join(chunks)).read_all().num_rows == 10  # what plain concatenation gives
