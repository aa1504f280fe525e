"""The column mapping of a historical sales file: which source column holds which field of a
``sales_transaction``, how its timestamps are written, and where its sales happened.

A mapping is JSON or YAML, found next to the data (``<file stem>.mapping.json|yaml|yml``, or
``_mapping.json|yaml|yml`` for every file of the folder) or passed as the DAG's ``mapping`` param::

    source: legacy-pos            # the system the file comes from; part of every event id (required)
    columns:                      # canonical field -> source column (names compared normalised)
      transaction_id: Receipt No  # or a list [Till, Receipt No] when numbers restart per till/store
      product_id: SKU
      quantity: Qty
      unit_price: Price
      timestamp: Sold At
      store: Location             # or a constant `store_id: STORE-001` for a one-store file
      line: Line                  # optional: the line within the transaction (default: the product)
      payment_method: Payment     # optional when defaults.payment_method is given
      customer_id: Customer       # optional
    timestamp_format: "%d/%m/%Y %H:%M"   # optional (strptime; a list tries each); default ISO-8601
    timezone: Europe/Berlin              # zone of timestamps without an offset; default UTC
    locations: {Berlin Mitte: store_001} # optional: store column value -> store_id
    store_pattern: ', *([^,]+), *[A-Z]{2} [0-9]{5}$'  # optional: a regular expression with one
                                         # capture group applied to the store column (a city in an
                                         # address, a till id's prefix); the captured text is the
                                         # store_id, or looked up in `locations`
    product_lookup:                      # optional: the product column holds another catalogue column
      by: product_name                   # product_name, product_id, barcode or
                                         # supplier_product_code, matched case- and
                                         # whitespace-insensitively against the current catalogue
      unmatched: quarantine              # quarantine (default: `unknown_product:product_id`) or infer
                                         # (loaded with the text as the key: an inferred member, flagged)
    payment_methods: {Bar: cash}         # optional: payment column value -> contract payment method
    decimal: ","                         # optional: "," for decimal commas (1.234,50); default "."
    defaults: {payment_method: cash}     # optional: values for fields the file does not have
    format: csv                          # optional: csv, json or parquet (default: by extension)
    delimiter: ";"                       # optional for CSV (default: sniffed from the header)

Everything is checked before a row is read; ``MappingError`` says what is wrong and what to change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from retail_platform.events.identifiers import key_problem
from retail_platform.sources.readers import normalize_name

REQUIRED_COLUMNS = ("transaction_id", "product_id", "quantity", "unit_price", "timestamp")
OPTIONAL_COLUMNS = ("store", "line", "payment_method", "customer_id")
KEYS = ("source", "columns", "timestamp_format", "timezone", "store_id", "locations", "store_pattern",
        "product_lookup", "decimal", "payment_methods", "defaults", "format", "delimiter")  # fmt: skip
LOOKUP_BY = ("product_name", "product_id", "barcode", "supplier_product_code")
UNMATCHED = ("quarantine", "infer")
DEFAULTABLE = ("payment_method", "customer_id")
MAPPING_SUFFIXES = (".json", ".yaml", ".yml")


class MappingError(ValueError):
    """The mapping is unusable; the message names the key and the fix."""


@dataclass(frozen=True)
class SalesMapping:
    source: str
    columns: dict[str, str]  # canonical field -> normalised source column
    timestamp_formats: tuple[str, ...] = ()
    timezone: str = "UTC"
    store_id: str | None = None
    locations: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    format: str | None = None
    delimiter: str | None = None
    store_pattern: re.Pattern[str] | None = None
    lookup_by: str | None = None  # None: the product column holds the product_id as is
    lookup_unmatched: str = "quarantine"
    decimal_comma: bool = False
    transaction_parts: tuple[str, ...] = ()  # further columns of a composite transaction id
    payment_methods: dict[str, str] = field(default_factory=dict)
    origin: str = "mapping"  # where it came from, for messages

    def column(self, canonical: str) -> str | None:
        return self.columns.get(canonical)

    def check_columns(self, available: Iterable[str], file: str) -> None:
        """Every mapped column must exist in the file; the error lists what the file has."""
        present = set(available)
        named = [*self.columns.items(), *(("transaction_id", v) for v in self.transaction_parts)]
        missing = [(k, v) for k, v in named if v not in present]
        if missing:
            listed = ", ".join(f"columns.{k} = '{v}'" for k, v in missing)
            raise MappingError(
                f"{self.origin}: {listed} not found in {file}; the file has columns "
                f"{sorted(present)}; change the mapping to one of them"
            )


def _fail(origin: str, message: str) -> MappingError:
    return MappingError(f"{origin}: {message}")


def _text(origin: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(origin, f"{key} must be a non-empty text, got {value!r}")
    return value.strip()


def _key(origin: str, key: str, value: Any) -> str:
    text = _text(origin, key, value)
    problem = key_problem(text)
    if problem:
        raise _fail(origin, f"{key} {text[:80]!r} is not a usable store key: {problem}")
    return text


def _text_map(origin: str, key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise _fail(origin, f"{key} must be a mapping of texts, got {type(value).__name__}")
    return {_text(origin, f"{key} key", k): _text(origin, f"{key}.{k}", v) for k, v in value.items()}


def parse_mapping(config: Any, origin: str = "mapping") -> SalesMapping:
    if not isinstance(config, Mapping):
        raise _fail(origin, f"must be an object with keys {', '.join(KEYS)}")
    unknown = sorted(set(config) - set(KEYS))
    if unknown:
        raise _fail(origin, f"unknown key(s) {unknown}; known keys are {', '.join(KEYS)}")
    if "source" not in config:
        raise _fail(origin, "source is required: a stable name of the system the file comes from (e.g. legacy-pos)")
    source = _text(origin, "source", config["source"])
    given = dict(config.get("columns", {})) if isinstance(config.get("columns", {}), Mapping) else {}
    parts: tuple[str, ...] = ()
    if isinstance(given.get("transaction_id"), list):
        names = [_text(origin, "columns.transaction_id[]", v) for v in given["transaction_id"]]
        if not names:
            raise _fail(origin, "columns.transaction_id is an empty list; name one column or several")
        given["transaction_id"], parts = names[0], tuple(normalize_name(n) for n in names[1:])
    raw_columns = _text_map(origin, "columns", given if given else config.get("columns", {}))
    unknown = sorted(set(raw_columns) - set(REQUIRED_COLUMNS) - set(OPTIONAL_COLUMNS))
    if unknown:
        raise _fail(
            origin, f"columns.{unknown[0]} is not a field; fields are {', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in raw_columns]
    if missing:
        raise _fail(origin, f"columns.{missing[0]} is required: name the source column that holds it")
    columns = {k: normalize_name(v) for k, v in raw_columns.items()}
    store_id = config.get("store_id")
    if (store_id is None) == ("store" not in columns):
        raise _fail(origin, "give either columns.store (a column naming the store) or store_id (one store), not both")
    locations = _text_map(origin, "locations", config.get("locations", {}))
    for name, store in locations.items():
        _key(origin, f"locations.{name}", store)
    if locations and "store" not in columns:
        raise _fail(origin, "locations maps values of columns.store, which is not set")
    defaults = _text_map(origin, "defaults", config.get("defaults", {}))
    bad_defaults = sorted(set(defaults) - set(DEFAULTABLE))
    if bad_defaults:
        raise _fail(origin, f"defaults.{bad_defaults[0]} cannot have a default; only {', '.join(DEFAULTABLE)} can")
    if "payment_method" not in columns and "payment_method" not in defaults:
        raise _fail(origin, "set columns.payment_method or defaults.payment_method (cash, credit_card, ...)")
    formats = config.get("timestamp_format", ())
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    for f in formats:
        _text(origin, "timestamp_format", f)
    zone = _text(origin, "timezone", config.get("timezone", "UTC"))
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(origin, f"timezone '{zone}' is not an IANA zone name (e.g. UTC, Europe/Berlin)") from None
    fmt = config.get("format")
    if fmt is not None and fmt not in ("csv", "json", "parquet"):
        raise _fail(origin, f"format '{fmt}' is not one of csv, json, parquet")
    store_pattern = _store_pattern(origin, config.get("store_pattern"), "store" in columns)
    lookup_by, unmatched = _product_lookup(origin, config.get("product_lookup"))
    decimal_mark = config.get("decimal", ".")
    if decimal_mark not in (".", ","):
        raise _fail(origin, f"decimal must be '.' or ',', got {decimal_mark!r}")
    if decimal_mark == "," and config.get("delimiter") == ",":
        raise _fail(origin, "decimal ',' with delimiter ',' cannot be told apart; the file's delimiter is probably ';'")
    payment_methods = _text_map(origin, "payment_methods", config.get("payment_methods", {}))
    delimiter = config.get("delimiter")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise _fail(origin, f"delimiter must be one character, got {delimiter!r}")
    return SalesMapping(
        source=source,
        columns=columns,
        timestamp_formats=formats,
        timezone=zone,
        store_id=_key(origin, "store_id", store_id) if store_id is not None else None,
        locations=locations,
        defaults=defaults,
        format=fmt,
        delimiter=delimiter,
        store_pattern=store_pattern,
        lookup_by=lookup_by,
        lookup_unmatched=unmatched,
        decimal_comma=decimal_mark == ",",
        transaction_parts=parts,
        payment_methods=payment_methods,
        origin=origin,
    )


def _store_pattern(origin: str, value: Any, has_store_column: bool) -> re.Pattern[str] | None:
    if value is None:
        return None
    text = _text(origin, "store_pattern", value)
    if not has_store_column:
        raise _fail(origin, "store_pattern applies to columns.store, which is not set")
    try:
        pattern = re.compile(text)
    except re.error as exc:
        raise _fail(origin, f"store_pattern is not a regular expression ({exc})") from None
    if pattern.groups != 1:
        raise _fail(
            origin, f"store_pattern needs exactly one capture group (...) around the store, it has {pattern.groups}"
        )
    return pattern


def _product_lookup(origin: str, value: Any) -> tuple[str | None, str]:
    if value is None:
        return None, "quarantine"
    if not isinstance(value, Mapping):
        raise _fail(origin, "product_lookup must be an object: {by: product_name, unmatched: quarantine}")
    unknown = sorted(set(value) - {"by", "unmatched"})
    if unknown:
        raise _fail(origin, f"product_lookup.{unknown[0]} is not a key; keys are by, unmatched")
    by = value.get("by")
    if by not in LOOKUP_BY:
        raise _fail(origin, f"product_lookup.by must be one of {', '.join(LOOKUP_BY)}, got {by!r}")
    unmatched = value.get("unmatched", "quarantine")
    if unmatched not in UNMATCHED:
        raise _fail(origin, f"product_lookup.unmatched must be one of {', '.join(UNMATCHED)}, got {unmatched!r}")
    return by, unmatched


def load_mapping_file(path: Path) -> SalesMapping:
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        # YAML is a superset of JSON, but JSON's parser gives the clearer message for a .json file.
        config = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise _fail(path.name, f"cannot be parsed: {exc}") from None
    return parse_mapping(config, origin=path.name)


def is_mapping_file(path: Path) -> bool:
    name = path.name
    return any(name == f"_mapping{s}" or name.endswith(f".mapping{s}") for s in MAPPING_SUFFIXES)


def find_mapping(data_file: Path, override: Any = None) -> SalesMapping:
    """The mapping of a data file: the override (DAG param) first, then ``<stem>.mapping.*`` beside it,
    then the folder's ``_mapping.*``."""
    if override:
        return parse_mapping(override, origin="the DAG's mapping param")
    candidates = [data_file.with_name(f"{data_file.stem}.mapping{s}") for s in MAPPING_SUFFIXES]
    candidates += [data_file.with_name(f"_mapping{s}") for s in MAPPING_SUFFIXES]
    for candidate in candidates:
        if candidate.is_file():
            return load_mapping_file(candidate)
    raise MappingError(
        f"no column mapping for {data_file.name}: put {data_file.stem}.mapping.json (or .yaml) or _mapping.json "
        "beside it, or pass the DAG param 'mapping' (see retail_platform/sources/mapping.py for the keys)"
    )
