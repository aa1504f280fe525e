"""The backfill's progress line: days done, rows, rate, time left."""

from __future__ import annotations

from datetime import date

from retail_platform.batch.daily import Progress


def test_progress_counts_days_and_rows_and_estimates_what_is_left():
    progress = Progress(total_days=4)
    progress.started -= 10.0  # ten seconds ago
    first = progress.day_done(date(2026, 11, 1), 14_500)
    assert "1/4 days (last 2026-11-01)" in first and "14,500 rows" in first
    second = progress.day_done(date(2026, 11, 2), 500)
    assert "2/4 days" in second and "15,000 rows" in second
    assert progress.days == 2 and progress.rows == 15_000
    seconds_left = float(second.split("about ")[1].split(" s left")[0])
    assert 9 <= seconds_left <= 12  # two days took ~10 s, two more to go
