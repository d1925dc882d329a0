"""Deployable students: a published model exported to ONNX (fp32) and dynamic-int8 ONNX, each checked on the test set.

The fp32 export is `torch.onnx.export` (the TorchScript exporter: the dynamo one needs onnxscript) with dynamic
batch and sequence axes; the int8 model is ONNX Runtime's `quantize_dynamic` of it, after ONNX Runtime's
quantization pre-processing. Every variant (eager PyTorch, ONNX, int8) runs over the dataset's prepared test split
with the workflow's own featurization, batching and post-processing (the task's `featurize` and `predictions`, the
session's outputs standing in for the model's), is scored with the dataset's metric and timed at the benchmark
shape. An ONNX variant whose main test score falls more than MAX_SCORE_DROP points below eager is unfit and does
not ship (dynamic int8 of ALBERT's shared layers can collapse accuracy, onnxruntime#11701). The deployable folder
is the published folder plus the variants that fit, with a model card section on running them with ONNX Runtime.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.shape_inference import quant_pre_process
from torch import nn
from transformers import PreTrainedModel

from speedy import bench, metrics
from speedy.models import load_task_model, load_tokenizer
from speedy.tasks import Task
from speedy.training import Split, batched_outputs, featurize_split, model_outputs

log = logging.getLogger(__name__)

MAX_SCORE_DROP = 0.5  # points of the main test metric an exported variant may lose against eager and still ship
ONNX_FILES = {"onnx": "model.onnx", "int8": "model_int8.onnx"}  # variant -> file in the deployable folder
EAGER = "eager"
OPSET = 17
EXAMPLE_LENGTHS = (8, 13)  # sequence lengths of the two example batches (their difference marks the sequence axes)
CARD_INPUT = "Ana nació en Lima."

Outputs = dict[str, list[np.ndarray]]


@dataclass(frozen=True)
class BenchShape:
    """The benchmark input that the latencies are timed at: batch_size x seq_length tokens."""

    batch_size: int
    seq_length: int


# ------------------------------------------------------------------ export
class TaskOutputs(nn.Module):
    """A task model that takes its inputs positionally, in `input_names` order, and returns its task's output fields."""

    def __init__(self, model: PreTrainedModel, input_names: Sequence[str], output_names: Sequence[str]):
        super().__init__()
        self.model, self.input_names, self.output_names = model, list(input_names), list(output_names)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        result = self.model(**dict(zip(self.input_names, inputs)))
        return tuple(getattr(result, name) for name in self.output_names)


def model_inputs(names: Sequence[str], input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """The inputs named `names` (a tokenizer's model_input_names) from token ids and a mask; segment ids are all 0."""
    values = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": torch.zeros_like(input_ids)}
    unknown = [name for name in names if name not in values]
    if unknown:
        raise ValueError(f"cannot export a model whose tokenizer gives input(s) {unknown}; known inputs: {sorted(values)}")
    return {name: values[name] for name in names}


def example_inputs(names: Sequence[str], vocab_size: int, length: int) -> dict[str, torch.Tensor]:
    """Two random sequences of `length` tokens, the second padded after half its length (so that masks are traced)."""
    generator = torch.Generator().manual_seed(bench.SEED)
    input_ids = torch.randint(5, vocab_size, (2, length), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, length // 2 :] = 0
    return model_inputs(names, input_ids, attention_mask)


def output_axes(module: TaskOutputs, short: Mapping[str, torch.Tensor], long: Mapping[str, torch.Tensor]) -> dict[str, dict[int, str]]:
    """The dynamic axes of each output: axis 0 is the batch, and every axis whose size follows the input's length."""
    with torch.inference_mode():
        pairs = zip(module(*short.values()), module(*long.values()))
    return {
        name: {axis: "batch" if axis == 0 else "sequence" for axis in range(a.dim()) if axis == 0 or a.shape[axis] != b.shape[axis]}
        for name, (a, b) in zip(module.output_names, pairs)
    }


def export_onnx(model: PreTrainedModel, input_names: Sequence[str], output_names: Sequence[str], path: Path) -> None:
    """Export a task model to ONNX with dynamic batch and sequence axes (TorchScript exporter, opset OPSET)."""
    module = TaskOutputs(model.eval(), input_names, output_names)
    short, long = (example_inputs(input_names, model.config.vocab_size, n) for n in EXAMPLE_LENGTHS)
    axes = {name: {0: "batch", 1: "sequence"} for name in input_names} | output_axes(module, short, long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice and tracer warnings on shape arithmetic
        torch.onnx.export(
            module, tuple(long.values()), str(path), dynamo=False, input_names=list(input_names),
            output_names=list(output_names), dynamic_axes=axes, opset_version=OPSET,
        )  # fmt: skip


def quantize_int8(onnx_path: Path, int8_path: Path) -> None:
    """Dynamic int8 quantization of an ONNX model's weights (QInt8), after ONNX Runtime's quantization pre-processing.

    The pre-processing (shape inference and ONNX Runtime's graph optimization; the symbolic shape inference does not
    finish on these graphs and is skipped) folds the Identity nodes through which ALBERT's shared weights reach every
    layer after the first: without it quantize_dynamic sees no constant weight there and leaves those layers fp32.
    """
    with tempfile.TemporaryDirectory(prefix="speedy-quantize-") as scratch:
        prepared = Path(scratch, "prepared.onnx")
        quant_pre_process(str(onnx_path), str(prepared), skip_symbolic_shape=True)
        quantize_dynamic(str(prepared), str(int8_path), weight_type=QuantType.QInt8)


def session(path: Path, threads: int) -> onnxruntime.InferenceSession:
    """An ONNX Runtime CPU session with `threads` intra-op threads."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


# ------------------------------------------------------------------ scores
def session_outputs(inference: onnxruntime.InferenceSession, task: Task, tokenizer, split: Split, batch_size: int) -> Outputs:
    """A session's outputs over a split's features, batched and padded as `training.model_outputs` does."""
    names = [node.name for node in inference.get_inputs()]

    def run(batch: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        return dict(zip(task.outputs, inference.run(list(task.outputs), {n: batch[n].numpy() for n in names})))

    return batched_outputs(run, task, tokenizer, split.features.inputs, batch_size)


def split_scores(task: Task, metric: str, split: Split, outputs: Outputs) -> dict[str, float]:
    """The metric's scores of a split's predictions from these outputs (the task's post-processing)."""
    ids = list(split.examples["id"])
    predictions = dict(zip(ids, task.predictions(outputs, split.features, split.examples)))
    return metrics.compute(metric, predictions, dict(zip(ids, task.references(split.examples))))


def judge(scores: Mapping[str, float]) -> dict[str, dict[str, Any]]:
    """Per variant: its main score, its difference against eager and whether it is fit (at most MAX_SCORE_DROP lower).

    Differences are rounded to 9 decimals before the comparison, so that a drop of exactly 0.5 points is fit.
    """
    eager = scores[EAGER]
    differences = {variant: score - eager for variant, score in scores.items()}
    return {
        variant: {"score": score, "difference": differences[variant], "fit": round(differences[variant], 9) >= -MAX_SCORE_DROP}
        for variant, score in scores.items()
    }


# ------------------------------------------------------------------ latency
def latency(run: Callable[[], object], timing: bench.Timing) -> dict[str, Any]:
    """Mean and SD ms of `run` over the timed runs the outlier filter keeps (bench.time_runs and summarize)."""
    seconds = bench.time_runs(run, torch.device("cpu"), timing.warmup_runs, timing.timed_runs)
    return bench.summarize(seconds, timing.outlier_threshold)


def latencies(
    model: PreTrainedModel, input_names: Sequence[str], files: Mapping[str, Path], shape: BenchShape, timing: bench.Timing
) -> dict[str, dict[str, Any]]:
    """Latency of eager PyTorch and of each ONNX file on random tokens at the benchmark shape, `timing.threads` threads."""
    bench.set_threads(timing.threads)
    inputs = model_inputs(input_names, **bench.dummy_inputs(model.config, shape.batch_size, shape.seq_length))
    with torch.inference_mode():
        timed = {EAGER: latency(lambda: model(**inputs), timing)}
    feeds = {name: value.numpy() for name, value in inputs.items()}
    for variant, path in files.items():
        inference = session(path, timing.threads)
        timed[variant] = latency(lambda: inference.run(None, feeds), timing)
    return timed


# ------------------------------------------------------------------ the check, the report and the deployable folder
@dataclass(frozen=True)
class DeploySettings:
    """How a published model is checked: test-set batch size and threads, and the benchmark's shape and timing."""

    eval_batch_size: int
    eval_threads: int
    shape: BenchShape
    timing: bench.Timing


def variant_scores(
    model: PreTrainedModel, task: Task, tokenizer, split: Split, metric: str, files: Mapping[str, Path], settings: DeploySettings
) -> dict[str, dict[str, float]]:
    """The test scores of eager PyTorch (training.model_outputs) and of each ONNX file, on the same batches."""
    torch.set_num_threads(settings.eval_threads)
    size, threads = settings.eval_batch_size, settings.eval_threads
    scores = {EAGER: split_scores(task, metric, split, model_outputs(model, task, tokenizer, split.features, size))}
    for variant, path in files.items():
        scores[variant] = split_scores(task, metric, split, session_outputs(session(path, threads), task, tokenizer, split, size))
        log.info("%s: %s", variant, scores[variant])
    return scores


def deploy_report(
    dataset: str, model: str, task: Task, metric: str, scores: Mapping[str, dict[str, float]],
    timed: Mapping[str, dict[str, Any]], settings: DeploySettings,
) -> dict[str, Any]:  # fmt: skip
    """The deploy JSON: per variant its file, test scores, difference against eager, fitness, latency and speedup."""
    main = metrics.MAIN_METRIC[metric]
    verdicts = judge({variant: scores[variant][main] for variant in scores})
    eager_ms = timed[EAGER]["mean_ms"]
    files = {EAGER: "model.safetensors", **ONNX_FILES}
    timing = settings.timing
    return {
        "dataset": dataset,
        "model": model,
        "task": task.name,
        "metric": metric,
        "main": main,
        "max_score_drop": MAX_SCORE_DROP,
        "bench": {
            "batch_size": settings.shape.batch_size,
            "seq_length": settings.shape.seq_length,
            "warmup_runs": timing.warmup_runs,
            "timed_runs": timing.timed_runs,
            "threshold": timing.outlier_threshold,
            **bench.hardware(torch.device("cpu"), timing.threads),
            "onnxruntime": onnxruntime.__version__,
        },
        "variants": {
            variant: {
                "file": files[variant],
                "test": dict(scores[variant]),
                **verdicts[variant],
                "latency": timed[variant],
                "speedup": eager_ms / timed[variant]["mean_ms"],
            }
            for variant in scores
        },
    }


def card_section(report: Mapping[str, Any], output_names: Sequence[str]) -> str:
    """The model card's ONNX Runtime section: each variant's check, and how to run the best one that ships."""
    b, main = report["bench"], report["main"]
    lines = [
        "",
        "## ONNX Runtime",
        "",
        f"Exports of this model, each run over the {report['dataset']} test set with the workflow's metric "
        f"({report['metric']}; main score: {main}) and timed on CPU at batch {b['batch_size']} x {b['seq_length']} "
        f"tokens with {b['threads']} thread(s) (mean ms; {b['cpu']}, ONNX Runtime {b['onnxruntime']}). An export more "
        f"than {report['max_score_drop']} points below eager does not ship.",
        "",
        f"| variant | file | test {main} | Δ vs eager | ms | speedup | ships |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, result in report["variants"].items():
        ships = "yes" if result["fit"] else "no (unfit)"
        lines.append(
            f"| {variant} | {result['file']} | {result['score']:.2f} | {result['difference']:+.2f} "
            f"| {result['latency']['mean_ms']:.2f} | {result['speedup']:.2f} | {ships} |"
        )
    shipped = [result["file"] for variant, result in report["variants"].items() if variant in ONNX_FILES and result["fit"]]
    if not shipped:
        return "\n".join([*lines, "", "No ONNX export kept the eager score: none ships.", ""])
    usage = [
        "import onnxruntime as ort",
        "from transformers import AutoTokenizer",
        "",
        'tokenizer = AutoTokenizer.from_pretrained("<this folder>")',
        f'session = ort.InferenceSession("<this folder>/{shipped[-1]}", providers=["CPUExecutionProvider"])',
        "inputs = [node.name for node in session.get_inputs()]",
        f'encoded = tokenizer("{CARD_INPUT}", return_tensors="np", return_token_type_ids=True)',
        f"output_names = {list(output_names)}",
        "outputs = dict(zip(output_names, session.run(output_names, {name: encoded[name] for name in inputs})))",
    ]
    return "\n".join(
        [
            *lines,
            "",
            "The outputs are the transformers model's, as numpy arrays; decode them as its pipeline does.",
            "",
            "```python",
            *usage,
            "```",
            "",
        ]
    )


def ship(report: Mapping[str, Any], exported: Mapping[str, Path], published: Path, output_names: Sequence[str], out_dir: Path) -> list[str]:
    """Write the deployable folder: the published folder, the fit ONNX files beside its weights, the card section.

    Returns the ONNX files that ship.
    """
    shutil.copytree(published, out_dir)
    shipped = [variant for variant in ONNX_FILES if report["variants"][variant]["fit"]]
    for variant in shipped:
        shutil.copyfile(exported[variant], Path(out_dir, ONNX_FILES[variant]))
    card = Path(out_dir, "README.md")
    card.write_text(card.read_text(encoding="utf-8") + card_section(report, output_names), encoding="utf-8")
    return [ONNX_FILES[variant] for variant in shipped]


def deploy(
    dataset: str, model_name: str, published: Path, test_split: str, task: Task, metric: str, settings: DeploySettings,
    out_dir: Path,
) -> dict[str, Any]:  # fmt: skip
    """Export a published model to ONNX and int8 ONNX, score and time every variant, and write the deployable folder."""
    tokenizer = load_tokenizer(published, split_words=task.pre_split)
    model = load_task_model(published, task.auto_model, task.labels).eval()
    split = featurize_split(task, tokenizer, test_split)
    input_names = list(tokenizer.model_input_names)
    with tempfile.TemporaryDirectory(prefix="speedy-export-") as scratch:
        files = {variant: Path(scratch, name) for variant, name in ONNX_FILES.items()}
        export_onnx(model, input_names, task.outputs, files["onnx"])
        quantize_int8(files["onnx"], files["int8"])
        scores = variant_scores(model, task, tokenizer, split, metric, files, settings)
        timed = latencies(model, input_names, files, settings.shape, settings.timing)
        report = deploy_report(dataset, model_name, task, metric, scores, timed, settings)
        shipped = ship(report, files, published, task.outputs, out_dir)
    log.info("%s on %s: ships %s", model_name, dataset, shipped or "no ONNX file")
    return report

