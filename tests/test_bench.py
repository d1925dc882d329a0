"""Checks of the benchmarks: outlier filter, MAC counting by hand, ALBERT sharing, speed reports."""

import json

import pytest
import torch

from speedy import bench

TINY_BERT = {
    "family": "bert",
    "arch": {
        "vocab_size": 50,
        "hidden_size": 8,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 16,
        "max_position_embeddings": 16,
    },
}
SPEED_FIELDS = {
    "model", "device", "batch_size", "seq_length", "threads", "mean_ms", "sd_ms", "inferences_per_s", "kept",
    "total", "threshold", "cpu", "gpu", "torch", "gemm_flops", "achieved_flops", "efficiency",
}  # fmt: skip


def tiny_albert(layers: int) -> dict:
    arch = {
        "vocab_size": 50,
        "embedding_size": 4,
        "hidden_size": 8,
        "num_hidden_layers": layers,
        "num_attention_heads": 2,
        "intermediate_size": 16,
        "max_position_embeddings": 16,
    }
    return {"family": "albert", "arch": arch}


SHAPE = bench.Shape(batch_size=1, seq_length=4, num_labels=2)
TIMING = bench.Timing(threads=1, warmup_runs=1, timed_runs=5, outlier_threshold=3.5)


@pytest.fixture(autouse=True)
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------ outlier filter
def test_modified_z_filter_drops_the_outlier_and_tightens_with_the_threshold():
    # median 3, MAD 1: M = 0.6745 * (x - 3) = -1.35, -0.67, 0, 0.67, 65.4
    samples = [1, 2, 3, 4, 100]
    assert bench.modified_z_filter(samples, 3.5) == [True, True, True, True, False]
    assert bench.modified_z_filter(samples, 0.75) == [False, True, True, True, False]


def test_modified_z_filter_falls_back_to_mean_absolute_deviation_when_mad_is_zero():
    # MAD 0; MeanAD = 4 / 5 = 0.8, so M(9) = 4 / (1.253314 * 0.8) = 3.99
    samples = [5, 5, 5, 5, 9]
    assert bench.modified_z_filter(samples, 3.5) == [True, True, True, True, False]
    assert bench.modified_z_filter(samples, 4.0) == [True] * 5


def test_modified_z_filter_keeps_identical_samples():
    assert bench.modified_z_filter([2.0, 2.0, 2.0], 0.75) == [True, True, True]


def test_summarize_reports_kept_runs_in_milliseconds():
    summary = bench.summarize([0.001, 0.002, 0.003, 0.004, 0.1], 3.5)
    assert summary["kept"] == 4 and summary["total"] == 5
    assert summary["mean_ms"] == pytest.approx(2.5)
    assert summary["sd_ms"] == pytest.approx(1.2909944)


# ------------------------------------------------------------------ parameters and MACs
def test_count_macs_matches_a_hand_count():
    model = bench.build_task_model(TINY_BERT, num_labels=2)
    seq, hidden, ffn, labels = 4, 8, 16, 2
    projections = 4 * seq * hidden * hidden  # Q, K, V, O: 4 x 4 x 8 x 8 = 1024
    attention = 2 * seq * seq * hidden  # QK^T and AV: 2 x 4 x 4 x 8 = 256, left out as in the paper
    feed_forward = 2 * seq * hidden * ffn  # up and down: 2 x 4 x 8 x 16 = 1024
    pooler = hidden * hidden  # the [CLS] token only: 64
    classifier = hidden * labels  # 16; embeddings, LayerNorm, GELU and softmax count 0
    assert bench.count_macs(model, batch_size=1, seq_length=seq) == 2128
    assert projections + feed_forward + pooler + classifier == 2128
    assert bench.attention_macs(model.config, batch_size=1, seq_length=seq) == attention


def test_count_macs_scales_with_batch():
    model = bench.build_task_model(TINY_BERT, num_labels=2)
    assert bench.count_macs(model, 3, 4) == 3 * bench.count_macs(model, 1, 4)


def test_albert_students_share_parameters_and_macs_grow_with_layers():
    counts = [bench.params_and_macs(tiny_albert(n), SHAPE) for n in (1, 2, 3)]
    params, macs = zip(*counts)
    assert params[0] == params[1] == params[2]
    assert params[0] == sum(p.numel() for p in bench.build_task_model(tiny_albert(1), 2).parameters())
    assert macs[0] < macs[1] < macs[2]
    assert macs[2] - macs[1] == macs[1] - macs[0]  # each layer adds the same MACs


def test_macs_table_has_the_contract_columns_and_speedups():
    entries = {"bert": TINY_BERT, "albert-2": tiny_albert(2)}
    table = bench.macs_table(entries, "bert", TINY_BERT, SHAPE)
    assert list(table.columns) == bench.MACS_COLUMNS
    assert list(table["model"]) == ["bert", "albert-2"]
    assert table["speedup"].iloc[0] == 1.0
    assert table["speedup"].iloc[1] == pytest.approx(table["macs"].iloc[0] / table["macs"].iloc[1], rel=1e-4)


def test_macs_table_counts_a_reference_outside_the_rows():
    table = bench.macs_table({"albert-1": tiny_albert(1)}, "bert", TINY_BERT, SHAPE)
    reference_macs = bench.params_and_macs(TINY_BERT, SHAPE)[1]
    assert table["speedup"].iloc[0] == pytest.approx(reference_macs / table["macs"].iloc[0], rel=1e-4)


# ------------------------------------------------------------------ speed
def test_speed_report_has_sane_fields():
    report = bench.speed_report("bert", TINY_BERT, "cpu", SHAPE, TIMING, macs=2384, gemm_flops=1e9)
    assert set(report) == SPEED_FIELDS
    assert report["threads"] == 1 and report["gpu"] is None and report["torch"] == torch.__version__
    assert 1 <= report["kept"] <= report["total"] == 5
    assert report["mean_ms"] > 0 and report["sd_ms"] >= 0
    assert report["inferences_per_s"] == pytest.approx(1000 / report["mean_ms"])
    assert report["achieved_flops"] == pytest.approx(2 * (2384 + 256) / (report["mean_ms"] / 1000))  # + attention MACs
    assert report["efficiency"] == pytest.approx(report["achieved_flops"] / 1e9)
    json.dumps(report)


def test_cuda_without_gpu_names_the_config_key(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(bench.BenchError, match=r"bench\.devices"):
        bench.speed_report("bert", TINY_BERT, "cuda", SHAPE, TIMING, macs=2384, gemm_flops=1e9)


def test_gemm_throughput_is_positive():
    result = bench.gemm_throughput("cpu", threads=1, threshold=3.5, size=64)
    assert result["flops"] == pytest.approx(2 * 64**3 / (result["mean_ms"] / 1000))
    assert result["total"] == bench.GEMM_RUNS
