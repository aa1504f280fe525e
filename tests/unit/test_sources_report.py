"""The run report: counts must reconcile, the summary names every file and its verdict."""

from __future__ import annotations

import pytest

from retail_platform.sources.landing import data_files
from retail_platform.sources.report import FAILED, SKIPPED, FileLoad, summary


def test_a_load_whose_counts_do_not_add_up_is_refused():
    load = FileLoad("r", "catalogue", "a.csv", 10, "ab", rows_read=8, rows_loaded=3, rows_quarantined=4)
    with pytest.raises(AssertionError, match="8 rows read but 3 loaded \\+ 4 quarantined"):
        load.check()
    load.rows_quarantined = 5
    load.check()


def test_summary_lists_files_and_totals():
    loads = [
        FileLoad("r", "catalogue", "a.csv", 1, "x", rows_read=8, rows_loaded=3, rows_quarantined=5),
        FileLoad("r", "suppliers", "b.jsonl", 1, "y", status=SKIPPED, message="content already loaded"),
        FileLoad("r", "sales_history", "c.csv", 1, "z", status=FAILED, message="no column mapping for c.csv"),
    ]
    text = summary(loads)
    assert "a.csv" in text and "(content already loaded)" in text and "no column mapping for c.csv" in text
    assert text.splitlines()[-1] == "files: 1 loaded, 1 skipped, 1 failed"


def test_landing_skips_mappings_and_private_files(tmp_path):
    for name in ("a.csv", "a.mapping.yaml", "_mapping.json", ".part.csv", "_manifest.json", "sub/b.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert [p.relative_to(tmp_path).as_posix() for p in data_files(tmp_path)] == ["a.csv", "sub/b.json"]
