"""Batch sources: files dropped into the lake's landing zone and a legacy SQLite database, loaded into the
warehouse's dimensions and the lake's bronze sales table.

    landing/catalogue/       product catalogue files   -> dim_product (SCD2)         catalogue.py
    landing/suppliers/       supplier files            -> dim_supplier (upsert)      suppliers.py
    landing/sales_history/   historical sales files    -> bronze sales (MERGE)       sales_history.py
                             + a column mapping        (mapping.py)
    landing/legacy/          legacy SQLite databases   -> all of the above, once     legacy_sqlite.py

Files are CSV, JSON (an array or JSON lines) or Parquet (readers.py); dirty values are cleaned or the
row is quarantined with its reason (cleaning.py, records.py, dq_source_rejects). Every file a run looks at gets a
row in ops_source_loads (report.py), which doubles as the registry of loaded content (landing.py).
"""

from __future__ import annotations

KINDS = ("catalogue", "suppliers", "sales_history", "legacy")
