"""Benchmarks: parameters and MACs (THOP), inference latency and GEMM throughput (ONNX and int8: speedy.export).

Every model is the task model (AutoModelForSequenceClassification with `bench.num_labels` labels) built
from the `arch` block of its config entry with random weights from a fixed seed: parameter counts, MACs
and speed do not depend on the weight values, so no job needs the trained models or the network.
"""

from __future__ import annotations

import gc
import logging
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import thop
import torch
from thop.vision.basic_hooks import zero_ops
from torch import nn
from transformers import AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel

from speedy.models import arch_config

log = logging.getLogger(__name__)

MACS_COLUMNS = ["model", "family", "params", "macs", "speedup"]
SEED = 0
GEMM_SIZE = 2048  # square fp32 matmul that measures the machine's throughput
GEMM_WARMUP = 2
GEMM_RUNS = 10
MEAN_AD_SCALE = 1.253314  # sqrt(pi / 2): mean absolute deviation to MAD-like scale (Iglewicz-Hoaglin)
MAD_SCALE = 0.6745  # the 0.75 quantile of the standard normal

Entry = Mapping[str, Any]


@dataclass(frozen=True)
class Shape:
    """The benchmarked input and head: batch x seq_length tokens into a classifier with num_labels labels."""

    batch_size: int
    seq_length: int
    num_labels: int


@dataclass(frozen=True)
class Timing:
    """How runs are timed: intra-op threads, warm-up and timed runs, and the modified-Z outlier cut-off."""

    threads: int
    warmup_runs: int
    timed_runs: int
    outlier_threshold: float


class BenchError(RuntimeError):
    """A benchmark that cannot run as configured (e.g. cuda listed but no GPU)."""


# ------------------------------------------------------------------ models and inputs
def build_task_model(entry: Entry, num_labels: int) -> PreTrainedModel:
    """The task model of a config entry, on CPU in eval mode, with random weights from `SEED`."""
    torch.manual_seed(SEED)
    model_config = arch_config(entry["family"], entry["arch"], num_labels=num_labels)
    return AutoModelForSequenceClassification.from_config(model_config).eval()


def dummy_inputs(model_config: PretrainedConfig, batch_size: int, seq_length: int) -> dict[str, torch.Tensor]:
    """Random token ids (above the special ids, so no padding) and a full attention mask."""
    generator = torch.Generator().manual_seed(SEED)
    input_ids = torch.randint(5, model_config.vocab_size, (batch_size, seq_length), generator=generator)
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}


# ------------------------------------------------------------------ parameters and MACs
def count_params(model: nn.Module) -> int:
    """Parameters of a model, each shared tensor once (an ALBERT student has its base's count)."""
    return sum(p.numel() for p in model.parameters())


def attention_macs(model_config: PretrainedConfig, batch_size: int, seq_length: int) -> int:
    """MACs of the attention matmuls QK^T and AV: 2 x layers x batch x seq^2 x hidden."""
    return 2 * model_config.num_hidden_layers * batch_size * seq_length**2 * model_config.hidden_size


def count_macs(model: PreTrainedModel, batch_size: int, seq_length: int) -> int:
    """Multiply-accumulates of one forward pass at batch x seq_length tokens.

    Rule: THOP counts every nn.Linear call (in_features MACs per output element: Q/K/V/O projections,
    FFN, ALBERT's embedding projection, pooler and classification head; a shared ALBERT layer counts once
    per call, so MACs grow with the layers). Embedding lookups, normalization, activations and softmax are
    not multiply-accumulates and count zero (THOP's default LayerNorm rule is switched off). Like the paper,
    the attention matmuls (QK^T and AV, which THOP's module hooks cannot see) are left out: this count
    gives the paper's speedups within 0.2% (ALBETO tiny 18.02x against 18.05x, large 0.281x against 0.28x). `attention_macs`
    gives them separately, for the FLOP rate that speed_report compares with the GEMM throughput.
    """
    inputs = dummy_inputs(model.config, batch_size, seq_length)
    positional = (inputs["input_ids"], inputs["attention_mask"])
    linear_macs, _ = thop.profile(model, inputs=positional, custom_ops={nn.LayerNorm: zero_ops}, verbose=False)
    return int(linear_macs)


def params_and_macs(entry: Entry, shape: Shape) -> tuple[int, int]:
    """Parameters and MACs of one entry's task model, freeing the model afterwards."""
    model = build_task_model(entry, shape.num_labels)
    counts = count_params(model), count_macs(model, shape.batch_size, shape.seq_length)
    del model
    gc.collect()
    return counts


def macs_table(entries: Mapping[str, Entry], reference: str, reference_entry: Entry, shape: Shape) -> pd.DataFrame:
    """One row per entry (`MACS_COLUMNS`); speedup = MACs of the `reference` model / the model's MACs."""
    rows = []
    for name, entry in entries.items():
        params, macs = params_and_macs(entry, shape)
        log.info("%s: %d params, %d MACs", name, params, macs)
        rows.append({"model": name, "family": entry["family"], "params": params, "macs": macs})
    table = pd.DataFrame(rows, columns=MACS_COLUMNS[:-1])
    by_name = dict(zip(table["model"], table["macs"]))
    if reference in by_name:
        reference_macs = by_name[reference]
    else:
        reference_macs = params_and_macs(reference_entry, shape)[1]
    table["speedup"] = (reference_macs / table["macs"]).round(4)
    return table


# ------------------------------------------------------------------ outliers and timing
def modified_z_filter(samples: Sequence[float], threshold: float) -> list[bool]:
    """Mask of samples kept by the modified Z-score |M_i| <= threshold (Iglewicz-Hoaglin).

    M_i = 0.6745 (x_i - median) / MAD. When MAD is 0 (over half the samples tie), M_i =
    (x_i - median) / (1.253314 MeanAD) with MeanAD the mean absolute deviation from the median;
    when that is 0 too, every sample is kept.
    """
    values = np.asarray(samples, dtype=float)
    deviations = values - np.median(values)
    mad = float(np.median(np.abs(deviations)))
    if mad > 0:
        scores = MAD_SCALE * deviations / mad
    else:
        mean_ad = float(np.mean(np.abs(deviations)))
        if mean_ad == 0:
            return [True] * len(values)
        scores = deviations / (MEAN_AD_SCALE * mean_ad)
    return [bool(abs(score) <= threshold) for score in scores]


def summarize(seconds: Sequence[float], threshold: float) -> dict[str, Any]:
    """Mean and SD (ms, sample SD) over the runs kept by the outlier filter, with kept/total counts."""
    kept = [s for s, keep in zip(seconds, modified_z_filter(seconds, threshold)) if keep]
    return {
        "mean_ms": 1000 * statistics.fmean(kept),
        "sd_ms": 1000 * statistics.stdev(kept) if len(kept) > 1 else 0.0,
        "kept": len(kept),
        "total": len(seconds),
    }


def resolve_device(device: str) -> torch.device:
    """The torch device for a `bench.devices` entry; cuda without a visible GPU is an error."""
    if device == "cuda" and not torch.cuda.is_available():
        raise BenchError(
            "config key `bench.devices` lists 'cuda' but torch sees no CUDA GPU on this machine "
            f"(torch {torch.__version__}); remove cuda from bench.devices or run the job on a GPU node"
        )
    return torch.device(device)


def _sync(device: torch.device) -> None:
    """Wait for queued GPU work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_runs(run: Callable[[], object], device: torch.device, warmup: int, runs: int) -> list[float]:
    """Seconds of each of `runs` timed calls of `run` (perf_counter) after `warmup` untimed ones."""
    for _ in range(warmup):
        run()
    _sync(device)
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        _sync(device)
        seconds.append(time.perf_counter() - start)
    return seconds


def set_threads(threads: int) -> None:
    """Fix torch's intra-op thread count for the timing."""
    torch.set_num_threads(threads)


# ------------------------------------------------------------------ hardware
def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else platform.processor()."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def hardware(device: torch.device, threads: int) -> dict[str, Any]:
    """The machine behind a timing: CPU model, threads, GPU timed on (null on cpu), torch version."""
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {"threads": threads, "cpu": cpu_model(), "gpu": gpu, "torch": torch.__version__}


def gemm_throughput(device: str, threads: int, threshold: float, size: int = GEMM_SIZE) -> dict[str, Any]:
    """fp32 FLOP/s of a size x size matmul: 2 size^3 / mean seconds over the runs the outlier filter keeps."""
    target = resolve_device(device)
    set_threads(threads)
    generator = torch.Generator().manual_seed(SEED)
    a, b = (torch.randn(size, size, generator=generator).to(target) for _ in range(2))
    with torch.inference_mode():
        seconds = time_runs(lambda: a @ b, target, GEMM_WARMUP, GEMM_RUNS)
    timing = summarize(seconds, threshold)
    flops = 2 * size**3 / (timing["mean_ms"] / 1000)
    return {"device": device, "size": size, **timing, "threshold": threshold, "flops": flops, **hardware(target, threads)}


# ------------------------------------------------------------------ inference speed
def speed_report(name: str, entry: Entry, device: str, shape: Shape, timing: Timing, macs: int, gemm_flops: float) -> dict[str, Any]:
    """The speed JSON of one model on one device (eager PyTorch forward passes in inference mode).

    achieved_flops = 2 (MACs + attention MACs) / mean latency; efficiency = achieved_flops / gemm_flops.
    """
    target = resolve_device(device)
    set_threads(timing.threads)
    model = build_task_model(entry, shape.num_labels).to(target)
    inputs = {k: v.to(target) for k, v in dummy_inputs(model.config, shape.batch_size, shape.seq_length).items()}
    with torch.inference_mode():
        seconds = time_runs(lambda: model(**inputs), target, timing.warmup_runs, timing.timed_runs)
    summary = summarize(seconds, timing.outlier_threshold)
    model_config = arch_config(entry["family"], entry["arch"])
    work = macs + attention_macs(model_config, shape.batch_size, shape.seq_length)
    achieved = 2 * work / (summary["mean_ms"] / 1000)
    return {
        "model": name,
        "device": device,
        "batch_size": shape.batch_size,
        "seq_length": shape.seq_length,
        **summary,
        "inferences_per_s": shape.batch_size / (summary["mean_ms"] / 1000),
        "threshold": timing.outlier_threshold,
        **hardware(target, timing.threads),
        "gemm_flops": gemm_flops,
        "achieved_flops": achieved,
        "efficiency": achieved / gemm_flops,
    }
