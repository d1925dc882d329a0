"""The teacher cache: one Parquet row of teacher outputs per example id, guarded by a fingerprint and a checksum.

Usage as a command: `python -m speedy.cache verify FILE...` checks each file against its own metadata.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from speedy.tasks import TeacherRow

SCHEMA_VERSION = 2
FINGERPRINT_KEY = b"speedy.fingerprint"
COLUMNS_KEY = b"speedy.columns"
CHECKSUM_KEY = b"speedy.sha256"
WORDS: Literal["words"] = "words"
REBUILD = "delete it and rerun cache_teacher"

Dim = int | Literal["words"]


class CacheError(RuntimeError):
    """A teacher cache that must not be used; the message names the file and how to rebuild it."""


class _Invalid(Exception):
    """A problem in a cache's contents, before the file name and the remedy are added."""


@dataclass(frozen=True)
class ColumnSpec:
    """A value column: its name, its per-row shape (ints, or "words" first) and whether NaN may occur."""

    name: str
    dims: tuple[Dim, ...]
    allow_nan: bool = False

    def __post_init__(self) -> None:
        dims_ok = isinstance(self.dims, tuple) and len(self.dims) > 0 and all(
            (dim == WORDS and position == 0) or (type(dim) is int and dim > 0) for position, dim in enumerate(self.dims)
        )
        name_ok = isinstance(self.name, str) and self.name not in ("", "id")
        if not (name_ok and dims_ok and isinstance(self.allow_nan, bool)):
            raise ValueError(
                f"bad column spec {self!r}: needs a name other than 'id', positive int dims "
                f"(the first may be {WORDS!r}) and a bool allow_nan"
            )

    def to_json(self) -> dict[str, Any]:
        """The spec as stored in the file metadata."""
        return {"name": self.name, "dims": list(self.dims), "allow_nan": self.allow_nan}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ColumnSpec:
        """The spec read back from the file metadata."""
        return cls(name=data["name"], dims=tuple(data["dims"]), allow_nan=data["allow_nan"])


@dataclass
class _Column:
    """One value column decoded: list lengths per nesting level (outermost first) and the flat values."""

    spec: ColumnSpec
    lengths: list[np.ndarray]
    values: np.ndarray


@dataclass
class _Contents:
    """A cache file whose checksum and shapes were verified."""

    stamp: dict[str, Any]
    specs: list[ColumnSpec]
    ids: list[str]
    columns: list[_Column]
    table: pa.Table


def _arrow_type(depth: int) -> pa.DataType:
    value_type = pa.float64()
    for _ in range(depth):
        value_type = pa.list_(value_type)
    return value_type


def _is_float_lists(data_type: pa.DataType, depth: int) -> bool:
    for _ in range(depth):
        if not pa.types.is_list(data_type):
            return False
        data_type = data_type.value_type
    return pa.types.is_float64(data_type)


def _decode_ids(column: pa.ChunkedArray) -> list[str]:
    if not pa.types.is_string(column.type) or column.null_count:
        raise _Invalid(f"the id column is {column.type} with {column.null_count} null(s), expected strings without nulls")
    return column.to_pylist()


def _decode_column(column: pa.ChunkedArray, spec: ColumnSpec) -> _Column:
    if not _is_float_lists(column.type, len(spec.dims)):
        raise _Invalid(f"column {spec.name} is {column.type}, expected {_arrow_type(len(spec.dims))}")
    level: pa.Array = column.combine_chunks()
    lengths = []
    for _ in spec.dims:
        if level.null_count:
            raise _Invalid(f"column {spec.name} holds nulls")
        lengths.append(pc.list_value_length(level).to_numpy().astype(np.int64))
        level = level.flatten()
    if level.null_count:
        raise _Invalid(f"column {spec.name} holds null values")
    return _Column(spec, lengths, level.to_numpy())


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "little")


def _checksum(stamp_json: bytes, specs_json: bytes, ids: list[str], columns: list[_Column]) -> str:
    """SHA-256 (hex) over the stored metadata, the ids and the values, in this canonical byte order.

    1. the fingerprint JSON, then the column-spec JSON, each as its byte length (uint64 LE) then its bytes,
       exactly as stored in the file metadata;
    2. the row count (uint64 LE), then each id in row order as its UTF-8 byte length (uint64 LE) then its bytes;
    3. each value column in spec order: the list lengths of each nesting level, outermost level first
       (one uint64 LE per list), then all values as float64 LE in row-major order (the stored values).
    """
    digest = hashlib.sha256()
    for blob in (stamp_json, specs_json):
        digest.update(_u64(len(blob)) + blob)
    digest.update(_u64(len(ids)))
    for example_id in ids:
        encoded = example_id.encode("utf-8")
        digest.update(_u64(len(encoded)) + encoded)
    for column in columns:
        for lengths in column.lengths:
            digest.update(lengths.astype("<u8").tobytes())
        digest.update(column.values.astype("<f8").tobytes())
    return digest.hexdigest()


def _row_of(column: _Column, level: int, index: int) -> int:
    """The row holding entry `index` of nesting level `level` (level len(dims) being the flat values)."""
    for lengths in reversed(column.lengths[:level]):
        index = int(np.searchsorted(np.cumsum(lengths), index, side="right"))
    return index


def _check_shape(ids: list[str], column: _Column, words: tuple[str, np.ndarray]) -> None:
    """Refuse list lengths other than the spec's; "words" lengths must equal those of the first "words" column."""
    for level, (dim, lengths) in enumerate(zip(column.spec.dims, column.lengths)):
        bad = np.flatnonzero(lengths != (words[1] if dim == WORDS else dim))
        if bad.size:
            row, found = _row_of(column, level, int(bad[0])), lengths[bad[0]]
            if dim == WORDS:
                problem = f"{column.spec.name} has {found} words, {words[0]} has {words[1][row]}"
            else:
                problem = f"{column.spec.name} has {found} entries at depth {level + 1}, expected {dim}"
            raise _Invalid(f"row {ids[row]!r}: {problem}")


def _check_values(ids: list[str], column: _Column) -> None:
    """Refuse infinities, and NaN where the spec allows none."""
    bad = np.flatnonzero(np.isinf(column.values) if column.spec.allow_nan else ~np.isfinite(column.values))
    if bad.size:
        row = _row_of(column, len(column.lengths), int(bad[0]))
        allowed = "only NaN may occur" if column.spec.allow_nan else "only finite values may occur"
        raise _Invalid(f"row {ids[row]!r}: {column.spec.name} holds {column.values[bad[0]]} ({allowed})")


def _check_contents(ids: list[str], columns: list[_Column]) -> None:
    """Refuse duplicate ids, shapes other than the specs', and forbidden non-finite values."""
    duplicates = [example_id for example_id, count in Counter(ids).items() if count > 1]
    if duplicates:
        raise _Invalid(f"id {duplicates[0]!r} occurs more than once")
    words = next(((c.spec.name, c.lengths[0]) for c in columns if c.spec.dims[0] == WORDS), ("", np.empty(0)))
    for column in columns:
        _check_shape(ids, column, words)
        _check_values(ids, column)


def _contents(table: pa.Table) -> _Contents:
    """Decode a cache table and verify its checksum and its shapes against the specs stored with it."""
    metadata = table.schema.metadata or {}
    absent = [key.decode() for key in (FINGERPRINT_KEY, COLUMNS_KEY, CHECKSUM_KEY) if key not in metadata]
    if absent:
        raise _Invalid(f"no {', '.join(absent)} in the file metadata (a damaged file or an older cache format)")
    specs = [ColumnSpec.from_json(item) for item in json.loads(metadata[COLUMNS_KEY])]
    expected_names = ["id", *(spec.name for spec in specs)]
    if table.column_names != expected_names:
        raise _Invalid(f"columns {table.column_names}, expected {expected_names}")
    ids = _decode_ids(table.column("id"))
    columns = [_decode_column(table.column(spec.name), spec) for spec in specs]
    if _checksum(metadata[FINGERPRINT_KEY], metadata[COLUMNS_KEY], ids, columns).encode() != metadata[CHECKSUM_KEY]:
        raise _Invalid("the contents do not match their SHA-256 checksum: the file is corrupted")
    _check_contents(ids, columns)
    stamp = json.loads(metadata[FINGERPRINT_KEY])
    if not isinstance(stamp, dict):
        raise _Invalid(f"the fingerprint is {type(stamp).__name__}, expected a JSON object")
    return _Contents(stamp, specs, ids, columns, table)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _load(path: str | Path) -> _Contents:
    """A verified cache file; anything wrong with it is a CacheError that names the file and the remedy."""
    try:
        with pq.ParquetFile(path) as parquet:
            return _contents(parquet.read())
    except _Invalid as problem:
        raise CacheError(f"{path}: bad teacher cache: {_one_line(str(problem))}; {REBUILD}") from None
    except Exception as error:  # pyarrow, json and decoding errors of a damaged file all mean the same
        detail = _one_line(f"{type(error).__name__}: {error}")
        raise CacheError(f"{path}: missing, unreadable or truncated teacher cache ({detail}); {REBUILD}") from error


def _check_word_counts(path: str | Path, contents: _Contents, word_counts: Mapping[str, int]) -> None:
    """Refuse a row whose "words" length differs from its example's word count (all "words" columns agree already)."""
    column = next((c for c in contents.columns if c.spec.dims[0] == WORDS), None)
    if column is None:
        return
    for example_id, found in zip(contents.ids, column.lengths[0].tolist()):
        if example_id in word_counts and found != word_counts[example_id]:
            raise CacheError(
                f"{path}: teacher cache row {example_id!r} has {found} words in {column.spec.name}, "
                f"the example has {word_counts[example_id]}; {REBUILD}"
            )


def write_cache(
    path: str | Path, ids: list[str], rows: list[TeacherRow], stamp: dict[str, Any], columns: Sequence[ColumnSpec]
) -> None:
    """Write rows keyed by example id, with fingerprint, column specs and checksum in the metadata (atomically)."""
    names = sorted(spec.name for spec in columns)
    try:
        for example_id, row in zip(ids, rows, strict=True):
            if sorted(row) != names:
                raise _Invalid(f"row {example_id!r} has columns {sorted(row)}, expected {names}")
        arrays = {spec.name: pa.array([row[spec.name] for row in rows], _arrow_type(len(spec.dims))) for spec in columns}
        table = pa.table({"id": pa.array(ids, pa.string()), **arrays})
        decoded = [_decode_column(table.column(spec.name), spec) for spec in columns]
        _check_contents(ids, decoded)
    except (_Invalid, pa.ArrowException, TypeError, ValueError) as error:
        problem = _one_line(str(error))
        raise CacheError(f"{path}: teacher outputs do not fit the column specs, nothing written: {problem}") from error
    stamp_json = json.dumps(stamp, sort_keys=True).encode()
    specs_json = json.dumps([spec.to_json() for spec in columns]).encode()
    metadata = {
        FINGERPRINT_KEY: stamp_json,
        COLUMNS_KEY: specs_json,
        CHECKSUM_KEY: _checksum(stamp_json, specs_json, ids, decoded).encode(),
    }
    tmp = Path(f"{path}.tmp")
    pq.write_table(table.replace_schema_metadata(metadata), tmp)
    os.replace(tmp, path)


def read_cache(
    path: str | Path,
    expected_stamp: dict[str, Any],
    ids: Sequence[str],
    columns: Sequence[ColumnSpec],
    word_counts: Mapping[str, int] | None = None,
) -> dict[str, TeacherRow]:
    """Rows by example id, from a cache whose checksum, fingerprint, column specs, word counts and ids all check out."""
    contents = _load(path)
    changed = sorted(k for k in expected_stamp if contents.stamp.get(k) != expected_stamp[k])
    if changed:
        raise CacheError(
            f"{path}: teacher cache fingerprint mismatch on {', '.join(changed)}; "
            f"it was made for another teacher, data file or settings: {REBUILD}"
        )
    if contents.specs != list(columns):
        raise CacheError(
            f"{path}: teacher cache columns {[s.to_json() for s in contents.specs]} differ from the task's "
            f"{[s.to_json() for s in columns]}; {REBUILD}"
        )
    if word_counts is not None:
        _check_word_counts(path, contents, word_counts)
    values = {spec.name: contents.table.column(spec.name).to_pylist() for spec in contents.specs}
    cached = {example_id: {name: column[i] for name, column in values.items()} for i, example_id in enumerate(contents.ids)}
    missing = [i for i in ids if i not in cached]
    if missing:
        raise CacheError(f"{path}: teacher cache lacks {len(missing)} example(s), e.g. {missing[:3]}; {REBUILD}")
    return cached


def verify_cache(path: str | Path) -> int:
    """Check one cache file against its own metadata (checksum, shapes, values); returns its row count."""
    return len(_load(path).ids)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m speedy.cache verify FILE...`: one line per file, exit status 1 if any file fails."""
    parser = argparse.ArgumentParser(prog="python -m speedy.cache", description="Check teacher cache files.")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="check each file's checksum, shapes and values against its metadata")
    verify.add_argument("files", nargs="+", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.files:
        try:
            rows = verify_cache(path)
        except CacheError as error:
            failed += 1
            print(error)
        else:
            print(f"{path}: OK ({rows} rows)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
