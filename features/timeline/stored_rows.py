"""The ingest store's rows of each source, read as columns rather than one dict per row.

    for source, base, payload in read_sources(connection, catalogue):
        ...

`source_record` keeps one JSON payload per loaded line. Decoding millions of them one by one
(a dict per row, then a frame built from the dicts) took most of `mimamori features` at
100,000 children and held every row as Python objects at once. Here the table is read in
slices in its own order (one sequential pass: a query per source sorts or seeks through an
index and is several times slower on SQLite), each slice's payloads of one source go as one
newline-delimited block to Arrow's JSON reader with the schema the catalogue gives, and only
typed columns are kept.

The SQL is the same on SQLite and PostgreSQL. A payload that does not fit its source's schema
(a number where the catalogue says text, a row the block reader cannot split) sends that whole
source down the generic path of earlier versions, so odd data cost speed, never correctness.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json
from sqlalchemy import Connection, Text, cast, select, type_coerce

from features.ingest.catalogue import Catalogue, SourceSpec
from features.store.models import SourceRecord

__all__ = [
    "BASE_COLUMNS",
    "ROW_COLUMNS",
    "expand_payloads",
    "read_sources",
    "stored_rows",
    "typed",
]

# The long form the ingest store keeps (one row per loaded line, payload as a dict).
ROW_COLUMNS: Final = (
    "municipality",
    "source",
    "id_kind",
    "local_id",
    "event_date",
    "known_date",
    "payload",
)
# What `read_sources` gives besides the payload: whose row it is, and when.
BASE_COLUMNS: Final = ("municipality", "id_kind", "local_id", "event_date", "known_date")
# Rows per fetched slice: large enough that per-slice overhead vanishes, small enough that
# the slice's Python strings (the only per-row objects) stay a few tens of megabytes.
CHUNK_ROWS: Final = 100_000
_NUMERIC_KINDS: Final = ("int", "float")
# Arrow's reader splits its input into blocks and needs every line to fit in one.
_MIN_BLOCK_BYTES: Final = 1 << 20
_MAX_UTF8_BYTES: Final = 4


def typed(column: pd.Series, kind: str) -> pd.Series:
    """A payload column in the contract's dtype for its catalogue type."""
    if kind == "date":
        return pd.to_datetime(column, format="%Y-%m-%d", errors="coerce")
    if kind == "year_month":
        return pd.to_datetime(column, format="%Y-%m", errors="coerce")
    if kind in _NUMERIC_KINDS:
        return pd.to_numeric(column, errors="coerce").astype("float64")
    return column.astype("str")


def expand_payloads(rows: pd.DataFrame, spec: SourceSpec) -> pd.DataFrame:
    """The catalogue columns of rows whose `payload` holds one dict each (the generic path)."""
    payload = pd.DataFrame.from_records(list(rows["payload"]), index=rows.index)
    out = pd.DataFrame(index=rows.index)
    for column in spec.columns.values():
        values = payload[column.name] if column.name in payload else pd.Series(None, rows.index)
        out[column.name] = typed(values, column.type)
    return out


def stored_rows(connection: Connection, sources: Sequence[str] | None = None) -> pd.DataFrame:
    """The store's rows in long form (`ROW_COLUMNS`, payloads decoded to dicts), in id order."""
    query = select(
        SourceRecord.municipality,
        SourceRecord.source,
        SourceRecord.id_kind,
        SourceRecord.local_id,
        SourceRecord.event_date,
        SourceRecord.known_date,
        SourceRecord.payload,
    ).order_by(SourceRecord.id)
    if sources is not None:
        query = query.where(SourceRecord.source.in_(sources))
    return pd.DataFrame(connection.execute(query).all(), columns=list(ROW_COLUMNS))


def _schema(spec: SourceSpec) -> pa.Schema:
    # Every non-numeric type is read as text and converted by `typed`, exactly as the generic
    # path does; numbers as float64, which is what `typed` makes of them anyway.
    names = dict.fromkeys(c.name for c in spec.columns.values())
    kinds = {c.name: c.type for c in spec.columns.values()}
    return pa.schema(
        [(name, pa.float64() if kinds[name] in _NUMERIC_KINDS else pa.string()) for name in names]
    )


def _parse(payloads: np.ndarray, schema: pa.Schema) -> pa.Table | None:
    """One slice's payloads as a table, or None if any of them does not fit the schema."""
    try:
        block = "\n".join(payloads.tolist()).encode()
        table = pa_json.read_json(
            pa.BufferReader(block),
            read_options=pa_json.ReadOptions(
                block_size=max(_MIN_BLOCK_BYTES, _MAX_UTF8_BYTES * max(map(len, payloads)) + 1)
            ),
            parse_options=pa_json.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"
            ),
        )
    except (pa.ArrowInvalid, TypeError):
        return None
    # A payload that is not one object per line (JSON null, a pretty-printed object) would
    # shift every later row onto the wrong subject; such a slice goes the generic way.
    return table if table.num_rows == len(payloads) else None


def _dates(values: np.ndarray) -> np.ndarray:
    # SQLite hands DATE columns over as ISO text, psycopg as datetime.date; both end up as the
    # datetime64[s] that the generic path's pd.to_datetime(date objects) gives.
    if len(values) and isinstance(values[0], str):
        return pd.to_datetime(values, format="%Y-%m-%d").to_numpy("datetime64[s]")
    return np.asarray(pd.to_datetime(pd.Series(values, dtype=object)), dtype="datetime64[s]")


@dataclass
class _Slices:
    """The parts of one source read so far, slice by slice."""

    strings: dict[str, list[pa.Array]] = field(default_factory=dict)
    dates: dict[str, list[np.ndarray]] = field(default_factory=dict)
    payloads: list[pa.Table] = field(default_factory=list)

    def add(self, columns: dict[str, np.ndarray], take: np.ndarray, payload: pa.Table) -> None:
        for name in ("municipality", "id_kind", "local_id"):
            values = pa.array(columns[name][take], type=pa.string())
            self.strings.setdefault(name, []).append(values)
        for name in ("event_date", "known_date"):
            self.dates.setdefault(name, []).append(_dates(columns[name][take]))
        self.payloads.append(payload)

    def frames(self, spec: SourceSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
        base = pd.DataFrame(
            {
                **{n: pa.chunked_array(v).to_pandas() for n, v in self.strings.items()},
                **{n: np.concatenate(v) for n, v in self.dates.items()},
            }
        )[list(BASE_COLUMNS)]
        table = pa.concat_tables(self.payloads)
        self.strings, self.dates, self.payloads = {}, {}, []
        payload = pd.DataFrame(index=base.index)
        for column in spec.columns.values():
            values = table.column(column.name).to_pandas()
            payload[column.name] = typed(values, column.type)
        return base, payload


def read_sources(
    connection: Connection,
    catalogue: Catalogue,
    sources: Sequence[str] | None = None,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """Per source with rows (in name order): its `BASE_COLUMNS` and its typed catalogue columns.

    Rows keep the store's id order, and the frames are what the generic path (`stored_rows`,
    then `expand_payloads`) makes of the same rows. `sources` restricts what is read.
    """
    query = select(
        SourceRecord.source,
        SourceRecord.municipality,
        SourceRecord.id_kind,
        SourceRecord.local_id,
        # No result processing: SQLite's ISO text is parsed for a whole slice at once.
        type_coerce(SourceRecord.event_date, Text),
        type_coerce(SourceRecord.known_date, Text),
        # The JSON text as stored (jsonb's canonical text on PostgreSQL), never decoded per row.
        cast(SourceRecord.payload, Text),
    ).order_by(SourceRecord.id)
    if sources is not None:
        query = query.where(SourceRecord.source.in_(sources))
    names = ("source", *BASE_COLUMNS, "payload")
    slices: dict[str, _Slices] = {}
    schemas: dict[str, pa.Schema] = {}
    generic: set[str] = set()
    # yield_per streams (a server-side cursor on PostgreSQL) instead of buffering the table.
    result = connection.execution_options(yield_per=chunk_rows).execute(query)
    for rows in result.partitions():
        columns = {
            name: np.array(values, dtype=object)
            for name, values in zip(names, zip(*rows, strict=True), strict=True)
        }
        del rows
        codes, found = pd.factorize(columns["source"])
        for code, source in enumerate(found.tolist()):
            if source in generic:
                continue
            spec = catalogue.sources.get(source)
            if spec is None:
                raise ValueError(f"rows of source {source!r}, which the catalogue does not know")
            take = np.flatnonzero(codes == code)
            schema = schemas.setdefault(source, _schema(spec))
            payload = _parse(columns["payload"][take], schema)
            if payload is None:
                generic.add(source)
                slices.pop(source, None)
                continue
            slices.setdefault(source, _Slices()).add(columns, take, payload)
    fallback = stored_rows(connection, sorted(generic)) if generic else None
    for source in sorted(set(slices) | generic):
        spec = catalogue.sources[source]
        if fallback is not None and source in generic:
            group = fallback.loc[fallback["source"] == source]
            base = group[list(BASE_COLUMNS)].assign(
                event_date=pd.to_datetime(group["event_date"]),
                known_date=pd.to_datetime(group["known_date"]),
            )
            yield (
                source,
                base.reset_index(drop=True),
                expand_payloads(group, spec).reset_index(drop=True),
            )
        else:
            base, payload = slices.pop(source).frames(spec)
            yield source, base, payload
