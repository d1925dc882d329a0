"""The teacher cache: one Parquet row of teacher outputs per example id, guarded by a fingerprint."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from speedy.tasks import TeacherRow

SCHEMA_VERSION = 1
FINGERPRINT_KEY = b"speedy.fingerprint"


class CacheError(RuntimeError):
    """A cache that must not be used: wrong fingerprint, missing examples or an unreadable file."""


def file_sha256(*paths: str | Path) -> str:
    """SHA-256 over the bytes of the given files, in order."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def fingerprint(teacher_dir: str | Path, data_file: str | Path, max_seq_length: int, doc_stride: int) -> dict[str, Any]:
    """What a cache depends on: teacher weights and tokenizer, the data file, lengths and the schema version."""
    teacher = Path(teacher_dir)
    weights = sorted(teacher.glob("*.safetensors"))
    if not weights:
        raise CacheError(f"{teacher}: no safetensors weights to fingerprint")
    tokenizer_files = sorted(p for p in teacher.glob("*") if p.name.startswith(("tokenizer", "vocab", "merges", "spiece")))
    return {
        "schema_version": SCHEMA_VERSION,
        "teacher_weights": file_sha256(*weights),
        "tokenizer": file_sha256(*tokenizer_files),
        "data": file_sha256(data_file),
        "max_seq_length": max_seq_length,
        "doc_stride": doc_stride,
    }


def write_cache(path: str | Path, ids: list[str], rows: list[TeacherRow], stamp: dict[str, Any]) -> None:
    """Write rows keyed by example id, with the fingerprint in the file metadata (atomically)."""
    columns: dict[str, list[Any]] = {"id": ids}
    for key in rows[0] if rows else []:
        columns[key] = [row[key] for row in rows]
    table = pa.Table.from_pydict(columns).replace_schema_metadata({FINGERPRINT_KEY: json.dumps(stamp).encode()})
    tmp = Path(f"{path}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def read_cache(path: str | Path, expected: dict[str, Any], ids: list[str]) -> dict[str, TeacherRow]:
    """Rows by example id; refuses a file that is unreadable, was made for other inputs, or lacks an example."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise CacheError(f"{path}: unreadable or truncated teacher cache ({error}); delete it and rerun cache_teacher") from error
    found = json.loads((table.schema.metadata or {}).get(FINGERPRINT_KEY, b"{}"))
    changed = sorted(k for k in expected if found.get(k) != expected[k])
    if changed:
        raise CacheError(
            f"{path}: teacher cache fingerprint mismatch on {', '.join(changed)}; "
            "it was made for another teacher, data file or settings: rerun cache_teacher"
        )
    columns = table.to_pydict()
    cached = {
        example_id: {k: v[i] for k, v in columns.items() if k != "id"} for i, example_id in enumerate(columns["id"])
    }
    missing = [i for i in ids if i not in cached]
    if missing:
        raise CacheError(f"{path}: teacher cache lacks {len(missing)} example(s), e.g. {missing[:3]}; rerun cache_teacher")
    return cached
