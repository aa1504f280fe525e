-- A product's other codes, as real exports carry them: the barcode printed on it (EAN-13, UPC-A,
-- EAN-8; digits as written, leading zeros kept) and the supplier's own article code. A chain whose
-- tills write barcodes, or whose purchase files write supplier codes, maps its history to the
-- catalogue's product_id through them (the history mapping's ``product_lookup: {by: barcode}`` or
-- ``{by: supplier_product_code}``, retail_platform/sources/sales_history.py).
--
-- * Plain String with DEFAULT '': most products have one barcode, and '' (none) is never a match, so
--   no Nullable is needed; not LowCardinality, since nearly every value is distinct.
-- * Tracked attributes of the SCD type 2 history (retail_platform/sources/catalogue.py): a new
--   barcode opens a new version like any other attribute change, so a lookup by barcode finds the
--   product through its current version only.
-- * No data moves: rows written before read ''.
-- migrate:up
ALTER TABLE {database}.dim_product ADD COLUMN IF NOT EXISTS barcode String DEFAULT ''
    COMMENT 'barcode as printed (EAN-13, UPC-A, EAN-8 digits, leading zeros kept); empty when the catalogue has none'
    AFTER product_name;
ALTER TABLE {database}.dim_product ADD COLUMN IF NOT EXISTS supplier_product_code String DEFAULT ''
    COMMENT 'the supplier''s own article code; empty when the catalogue has none'
    AFTER barcode;

-- migrate:down
ALTER TABLE {database}.dim_product DROP COLUMN IF EXISTS supplier_product_code;
ALTER TABLE {database}.dim_product DROP COLUMN IF EXISTS barcode;
