"""The Parquet teacher cache: round trip, fingerprint, checksum, shapes, values, the verify command and bit flips."""

import contextlib
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from speedy import cache
from speedy.cache import WORDS, CacheError, ColumnSpec, main, read_cache, verify_cache, write_cache

STAMP = {"schema_version": 2, "teacher_weights": "abc", "tokenizer": "t", "data": "d", "max_seq_length": 64, "doc_stride": 16}
NUM_LABELS = {"classification": 4, "token": 9}
SPECS = {
    "classification": [ColumnSpec("logits", (4,))],
    "token": [ColumnSpec("logits", (WORDS, 9))],
    "qa": [ColumnSpec("start_logits", (WORDS,), allow_nan=True), ColumnSpec("end_logits", (WORDS,), allow_nan=True)],
}


def _logits(rng: np.random.Generator, *shape: int) -> list:
    """Teacher-like logits: float32 outputs turned into Python floats, as `teacher_rows` makes them."""
    return rng.normal(0.0, 3.0, shape).astype(np.float32).tolist()


def make_cache(task: str) -> tuple[list[str], list[dict], dict[str, int]]:
    """A realistic small cache of one task type: ids, rows and word counts."""
    rng = np.random.default_rng(7)
    if task == "classification":
        ids = [f"xnli-{i}" for i in range(4)]
        return ids, [{"logits": _logits(rng, 4)} for _ in ids], {}
    words = {"token": [4, 6, 2], "qa": [7, 12, 5]}[task]
    ids = [f"{task}-ejemplo-{i}" for i in range(len(words))]
    counts = dict(zip(ids, words))
    if task == "token":
        return ids, [{"logits": _logits(rng, n, 9)} for n in words], counts
    rows = [{"start_logits": _logits(rng, n), "end_logits": _logits(rng, n)} for n in words]
    for key in ("start_logits", "end_logits"):
        rows[1][key][0] = rows[1][key][11] = math.nan  # words the teacher never saw whole
    return ids, rows, counts


def bits(rows: dict[str, dict]) -> dict[str, dict[str, tuple]]:
    """Rows by id with each value as (shape, float64 bytes), so that NaN payloads and signs compare exactly."""
    return {
        i: {k: (np.shape(v), np.asarray(v, dtype=np.float64).tobytes()) for k, v in row.items()} for i, row in rows.items()
    }


def written(tmp_path: Path, task: str) -> tuple[Path, list[str], list[dict], dict[str, int]]:
    """A cache file of one task type in tmp_path, with what it holds."""
    ids, rows, counts = make_cache(task)
    path = tmp_path / f"{task}.parquet"
    write_cache(path, ids, rows, STAMP, SPECS[task])
    return path, ids, rows, counts


def rewrite(path: Path, edit, reseal: bool = False) -> None:
    """Edit a cache's ids and values as Python lists, keep its metadata; `reseal` recomputes the checksum (a buggy writer)."""
    table = pq.read_table(path)
    metadata = dict(table.schema.metadata)
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    edit(columns)
    edited = pa.table({name: pa.array(values, table.schema.field(name).type) for name, values in columns.items()})
    if reseal:
        specs = [ColumnSpec.from_json(item) for item in json.loads(metadata[cache.COLUMNS_KEY])]
        decoded = [cache._decode_column(edited.column(spec.name), spec) for spec in specs]
        checksum = cache._checksum(metadata[cache.FINGERPRINT_KEY], metadata[cache.COLUMNS_KEY], columns["id"], decoded)
        metadata[cache.CHECKSUM_KEY] = checksum.encode()
    pq.write_table(edited.replace_schema_metadata(metadata), path)


def verify_lines(*paths: Path) -> tuple[int, list[str]]:
    """Exit status and printed lines of `python -m speedy.cache verify`, run in-process."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["verify", *map(str, paths)])
    return status, out.getvalue().splitlines()


@pytest.mark.parametrize("task", SPECS)
def test_round_trip_is_exact(tmp_path, task):
    path, ids, rows, counts = written(tmp_path, task)
    cached = read_cache(path, STAMP, list(reversed(ids)), SPECS[task], counts)
    assert bits(cached) == bits(dict(zip(ids, rows)))
    assert verify_cache(path) == len(ids)
    assert not Path(f"{path}.tmp").exists()


def test_fingerprint_mismatch_names_the_keys(tmp_path):
    path, ids, _, _ = written(tmp_path, "classification")
    with pytest.raises(CacheError, match="fingerprint mismatch on max_seq_length, teacher_weights.*rerun cache_teacher"):
        read_cache(path, {**STAMP, "teacher_weights": "other", "max_seq_length": 128}, ids, SPECS["classification"])


def test_missing_example_is_refused(tmp_path):
    path, ids, _, _ = written(tmp_path, "classification")
    with pytest.raises(CacheError, match=r"lacks 1 example\(s\), e.g. \['q3'\]"):
        read_cache(path, STAMP, [ids[0], "q3"], SPECS["classification"])


def test_column_specs_of_another_task_are_refused(tmp_path):
    path, ids, _, _ = written(tmp_path, "classification")
    with pytest.raises(CacheError, match="differ from the task's"):
        read_cache(path, STAMP, ids, [ColumnSpec("logits", (3,))])


def test_wrong_word_count_is_refused(tmp_path):
    path, ids, _, counts = written(tmp_path, "token")
    with pytest.raises(CacheError, match=f"{path}: teacher cache row '{ids[1]}' has 6 words in logits, the example has 7"):
        read_cache(path, STAMP, ids, SPECS["token"], {**counts, ids[1]: 7})


TAMPERING = {
    "nan logit": ("classification", lambda c: c["logits"][1].__setitem__(2, math.nan), "row 'xnli-1': logits holds nan"),
    "3 of 4 logits": ("classification", lambda c: c["logits"][2].pop(), "row 'xnli-2': logits has 3 entries at depth 1, expected 4"),
    "duplicate id": ("classification", lambda c: c["id"].__setitem__(1, "xnli-0"), "id 'xnli-0' occurs more than once"),
    "swapped ids": ("qa", lambda c: c["id"].reverse(), "row 'qa-ejemplo-2' has 7 words in start_logits, the example has 5"),
    "word dropped": ("token", lambda c: c["logits"][1].pop(), "row 'token-ejemplo-1' has 5 words in logits, the example has 6"),
    "infinite qa logit": ("qa", lambda c: c["end_logits"][0].__setitem__(3, math.inf), "end_logits holds inf .only NaN may occur"),
    "start and end disagree": ("qa", lambda c: c["end_logits"][2].pop(), "end_logits has 4 words, start_logits has 5"),
}


@pytest.mark.parametrize("case", TAMPERING)
def test_tampered_contents_fail_the_checksum(tmp_path, case):
    task, edit, _ = TAMPERING[case]
    path, ids, _, counts = written(tmp_path, task)
    rewrite(path, edit)
    with pytest.raises(CacheError, match="do not match their SHA-256 checksum.*rerun cache_teacher"):
        read_cache(path, STAMP, ids, SPECS[task], counts)
    assert verify_lines(path)[0] == 1


@pytest.mark.parametrize("case", TAMPERING)
def test_bad_contents_are_refused_even_with_a_valid_checksum(tmp_path, case):
    task, edit, message = TAMPERING[case]
    path, ids, _, counts = written(tmp_path, task)
    rewrite(path, edit, reseal=True)
    with pytest.raises(CacheError, match=f"{path}: .*{message}.*rerun cache_teacher"):
        read_cache(path, STAMP, ids, SPECS[task], counts)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"logits": [0.1, math.nan, 0.2, 0.3]}], "logits holds nan"),
        ([{"logits": [0.1, 0.2, 0.3]}], "logits has 3 entries at depth 1, expected 4"),
        ([{"logits": [0.1, 0.2, 0.3, None]}], "logits holds null values"),
        ([{"logits": [0.1, 0.2, 0.3, 0.4], "extra": [1.0]}], r"has columns \['extra', 'logits'\]"),
    ],
)
def test_writer_refuses_rows_that_do_not_fit(tmp_path, rows, message):
    path = tmp_path / "train.parquet"
    with pytest.raises(CacheError, match=f"{path}: teacher outputs do not fit the column specs.*{message}"):
        write_cache(path, ["x"], rows, STAMP, SPECS["classification"])
    assert not path.exists()


def test_column_spec_refuses_words_after_the_first_dim():
    with pytest.raises(ValueError, match="bad column spec"):
        ColumnSpec("logits", (9, WORDS))


def test_truncated_and_foreign_files_are_refused(tmp_path):
    path, ids, _, _ = written(tmp_path, "token")
    data = path.read_bytes()
    for length in range(0, len(data), 37):
        path.write_bytes(data[:length])
        with pytest.raises(CacheError, match=f"{path}: .*rerun cache_teacher"):
            read_cache(path, STAMP, ids, SPECS["token"])
    pq.write_table(pa.table({"id": ids}).replace_schema_metadata({cache.FINGERPRINT_KEY: b"{}"}), path)
    with pytest.raises(CacheError, match="no speedy.columns, speedy.sha256 in the file metadata"):
        read_cache(path, STAMP, ids, SPECS["token"])
    with pytest.raises(CacheError, match="missing, unreadable or truncated"):
        read_cache(tmp_path / "absent.parquet", STAMP, ids, SPECS["token"])


@pytest.mark.parametrize("task", SPECS)
def test_every_bit_flip_is_refused_or_harmless(tmp_path, task):
    """One bit flipped in every byte of the file: the reader and verify refuse it, or the rows read back identical."""
    path, ids, rows, counts = written(tmp_path, task)
    original, expected = path.read_bytes(), bits(dict(zip(ids, rows)))
    refused = harmless = verify_refused = 0
    for position in range(len(original)):
        flipped = bytearray(original)
        flipped[position] ^= 1 << (position * 3 % 8)
        path.write_bytes(flipped)
        try:
            read_back = bits(read_cache(path, STAMP, ids, SPECS[task], counts))
        except CacheError:
            read_back = None
        status, lines = verify_lines(path)
        assert len(lines) == 1 and lines[0].startswith(f"{path}: ")
        if read_back is None:
            refused += 1
        else:
            assert read_back == expected, f"flip at byte {position} changed the rows unnoticed"
            harmless += 1
        if status:
            verify_refused += 1
        else:
            assert read_back == expected, f"verify passed a flip at byte {position} that the reader refuses"
    print(f"{task}: {len(original)} bytes, {len(original)} flips: reader refused {refused}, harmless {harmless}; "
          f"verify refused {verify_refused}")
    assert refused > 0


def test_verify_command_prints_one_line_per_file_and_fails_on_any(tmp_path):
    good, _, _, _ = written(tmp_path, "qa")
    bad = tmp_path / "bad.parquet"
    data = bytearray(good.read_bytes())
    data[len(data) // 3] ^= 0x10
    bad.write_bytes(data)
    env = {**os.environ, "PYTHONPATH": str(Path(cache.__file__).parents[1])}
    command = [sys.executable, "-m", "speedy.cache", "verify"]
    result = subprocess.run([*command, str(good), str(bad)], capture_output=True, text=True, env=env, check=False)
    lines = result.stdout.splitlines()
    assert result.returncode == 1 and len(lines) == 2, result
    assert lines[0] == f"{good}: OK (3 rows)"
    assert lines[1].startswith(f"{bad}: ") and lines[1].endswith("delete it and rerun cache_teacher")
    assert subprocess.run([*command, str(good)], capture_output=True, env=env, check=False).returncode == 0
