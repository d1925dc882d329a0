"""The Parquet teacher cache: round trip by example id, fingerprint, and refusal of a bad cache."""

import math

import pytest

from speedy.cache import CacheError, fingerprint, read_cache, write_cache

ROWS = [{"start_logits": [0.5, math.nan, 1.0], "end_logits": [0.1, 0.2, math.nan]}, {"start_logits": [2.0], "end_logits": [3.0]}]
STAMP = {"schema_version": 1, "teacher_weights": "abc", "tokenizer": "t", "data": "d", "max_seq_length": 64, "doc_stride": 16}


def test_round_trip_keyed_by_id(tmp_path):
    path = tmp_path / "train.parquet"
    write_cache(path, ["q1", "q2"], ROWS, STAMP)
    cached = read_cache(path, STAMP, ["q2", "q1"])
    assert cached["q2"] == {"start_logits": [2.0], "end_logits": [3.0]}
    assert cached["q1"]["start_logits"][0] == 0.5 and math.isnan(cached["q1"]["start_logits"][1])


def test_round_trip_of_nested_token_logits(tmp_path):
    path = tmp_path / "train.parquet"
    write_cache(path, ["s1"], [{"logits": [[0.1, 0.2], [0.3, 0.4]]}], STAMP)
    assert read_cache(path, STAMP, ["s1"])["s1"]["logits"] == [[0.1, 0.2], [0.3, 0.4]]


def test_fingerprint_mismatch_is_refused(tmp_path):
    path = tmp_path / "train.parquet"
    write_cache(path, ["q1", "q2"], ROWS, STAMP)
    with pytest.raises(CacheError, match="fingerprint mismatch on max_seq_length, teacher_weights"):
        read_cache(path, {**STAMP, "teacher_weights": "other", "max_seq_length": 128}, ["q1"])


def test_missing_example_is_refused(tmp_path):
    path = tmp_path / "train.parquet"
    write_cache(path, ["q1", "q2"], ROWS, STAMP)
    with pytest.raises(CacheError, match=r"lacks 1 example\(s\), e.g. \['q3'\]"):
        read_cache(path, STAMP, ["q1", "q3"])


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "train.parquet"
    write_cache(path, ["q1", "q2"], ROWS, STAMP)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CacheError, match="unreadable or truncated"):
        read_cache(path, STAMP, ["q1"])


def test_fingerprint_follows_weights_and_data(tmp_path):
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    (teacher / "model.safetensors").write_bytes(b"weights")
    (teacher / "tokenizer.json").write_text("{}")
    data = tmp_path / "train.parquet"
    data.write_bytes(b"data")
    first = fingerprint(teacher, data, 64, 16)
    (teacher / "model.safetensors").write_bytes(b"other weights")
    second = fingerprint(teacher, data, 64, 16)
    assert first["teacher_weights"] != second["teacher_weights"]
    assert first["data"] == second["data"] and first["tokenizer"] == second["tokenizer"]
    assert fingerprint(teacher, data, 64, 32)["doc_stride"] == 32
