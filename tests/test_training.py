"""The training path: micro-batches that add up to the whole batch, length-sorted inference, precision, determinism,
and resuming a killed job from its checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import TrainerCallback

from speedy.batches import LengthGroupedSampler, batch_items, micro_batches
from speedy.data import read_split
from speedy.kd import CachedTeacher, KDSettings
from speedy.models import load_task_model, load_tokenizer
from speedy.tasks import TaskSettings, make_task
from speedy.training import (
    GridJob, Schedule, Split, TrainSettings, evaluate, last_checkpoint, make_trainer, model_outputs, resolve_precision,
    run_grid_job, teacher_rows,
)  # fmt: skip

from conftest import prepare

ROOT = Path(__file__).resolve().parents[1]
DATASETS = {"classification": "xnli", "token": "pos", "qa": "sqac"}
SETTINGS = {
    "classification": TaskSettings(max_seq_length=64),
    "token": TaskSettings(max_seq_length=24, doc_stride=8),  # short windows: some sentences take two
    "qa": TaskSettings(max_seq_length=48, doc_stride=16, max_question_length=16),
}
STUDENT, TEACHER = "albeto-tiny", "beto-cased"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: tiny models run fastest so (above all on shared cores), and runs compare as the workflow's
    jobs do (each job sets its own thread count)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def prepared(data_demo, tmp_path_factory) -> dict[str, dict[str, str]]:
    """Prepared Parquet splits of one demo dataset per task type."""
    root = tmp_path_factory.mktemp("prepared")
    for dataset in DATASETS.values():
        prepare(data_demo, dataset, root / dataset)
    return {kind: {s: str(root / d / f"{s}.parquet") for s in ("train", "validation", "test")} for kind, d in DATASETS.items()}


def task_of(kind: str, data_demo):
    return make_task(kind, SETTINGS[kind], data_demo["datasets"][DATASETS[kind]].get("labels", []))


def train_settings(**changes) -> TrainSettings:
    values = {"seed": 7, "weight_decay": 0.0, "warmup_ratio": 0.0, "eval_batch_size": 16, "logging_steps": 1, **changes}
    return TrainSettings(**values)


def cached_teacher(data_demo, task, examples) -> CachedTeacher:
    """The demo BERT's outputs on some examples, as the cache holds them."""
    source = data_demo["models"][TEACHER]["pretrained"]
    tokenizer = load_tokenizer(source, split_words=task.pre_split)
    model = load_task_model(source, task.auto_model, task.labels)
    return CachedTeacher(dict(zip(examples["id"], teacher_rows(model, task, tokenizer, examples, batch_size=8))))


# ------------------------------------------------------------------ micro-batches
def test_micro_batches_divide_the_batch():
    assert micro_batches(32, None) == (32, 1)
    assert micro_batches(32, 64) == (32, 1)
    assert micro_batches(32, 12) == (8, 4)
    assert micro_batches(30, 7) == (6, 5)
    assert micro_batches(7, 3) == (1, 7)
    with pytest.raises(ValueError, match="micro_batch 0"):
        micro_batches(8, 0)


def padding(order: list[int], lengths: list[int], batch: int) -> float:
    """Padded tokens per real token of the batches cut from `order`."""
    batches = [order[i : i + batch] for i in range(0, len(order), batch)]
    return sum(len(b) * max(lengths[i] for i in b) for b in batches) / sum(lengths)


def test_grouped_batches_pad_little_and_stay_random():
    """Real sentence lengths (AnCora dev, whitespace words): grouped batches pad far less than random ones, every
    feature comes once an epoch, the batches differ from epoch to epoch, and a smaller last batch stays last."""
    texts = (ROOT / "tests" / "fixtures" / "tokenizers" / "ancora-dev.txt").read_text(encoding="utf-8").splitlines()
    lengths = [len(text.split()) + 2 for text in texts]
    sampler = LengthGroupedSampler(lengths, batch_size=32, window=20)  # three windows
    torch.manual_seed(0)
    epochs = [list(sampler), list(sampler)]
    for order in epochs:
        assert sorted(order) == list(range(len(lengths)))
        assert padding(order, lengths, 32) < 1.15 < 1.8 < padding(torch.randperm(len(lengths)).tolist(), lengths, 32)
    assert epochs[0] != epochs[1]
    first_batches = [{frozenset(order[i : i + 32]) for i in range(0, 32 * 51, 32)} for order in epochs]
    assert first_batches[0] != first_batches[1]
    last = len(lengths) % 32
    assert last and all(len(set(order[-last:]) & set(order[:-last])) == 0 for order in epochs)


class Step(TrainerCallback):
    """Keeps the gradient that the optimizer is about to apply."""

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.gradient = {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}


def one_step(job: GridJob, data_demo, train: Split, out_dir: Path):
    """One optimizer step of plain SGD (linear in the gradient) without clipping or dropout: gradient, weights, log,
    and the items of each micro-batch."""
    source = data_demo["models"][STUDENT]["pretrained"]
    tokenizer = load_tokenizer(source, split_words=job.task.pre_split)
    torch.manual_seed(0)
    model = load_task_model(source, job.task.auto_model, job.task.labels)
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    step = Step()
    trainer = make_trainer(job, tokenizer, model, train, None, str(out_dir), callbacks=[step])
    trainer.args.optim, trainer.args.max_grad_norm = "sgd", 0.0
    items, draw = [], trainer.get_batch_samples

    def counted(*args):
        batches, total = draw(*args)
        items.extend(batch_items(batch) for batch in batches)
        return batches, total

    trainer.get_batch_samples = counted
    trainer.train()
    weights = {name: p.detach().clone() for name, p in model.named_parameters()}
    logged = next(entry for entry in trainer.state.log_history if "loss" in entry)
    return step.gradient, weights, logged, items


@pytest.mark.parametrize("distil", [False, True], ids=["finetune", "distill"])
@pytest.mark.parametrize("kind", list(DATASETS))
def test_micro_batches_give_the_whole_batch_step(kind, distil, data_demo, prepared, tmp_path):
    """Eight features as one batch, or as four micro-batches of two: the same loss, gradient and weights after one
    step. Token tasks average over labelled words and the micro-batches hold different numbers of them."""
    task = task_of(kind, data_demo)
    tokenizer = load_tokenizer(data_demo["models"][STUDENT]["pretrained"], split_words=task.pre_split)
    examples = read_split(prepared[kind]["train"]).select(range(8))
    features = task.featurize(examples, tokenizer)
    features.inputs = features.inputs.select(range(8))
    train = Split(examples, features)
    teacher = cached_teacher(data_demo, task, examples) if distil else None
    kd = KDSettings(alpha=0.5, temperature=2.0) if distil else None
    runs = []
    for micro in (8, 2):
        job = GridJob(DATASETS[kind], STUDENT, data_demo["models"][STUDENT]["pretrained"], task, train_settings(),
                      Schedule(8, 0.5, 1, evaluate_each_epoch=False, micro_batch=micro), {}, teacher=teacher, kd=kd)  # fmt: skip
        runs.append(one_step(job, data_demo, train, tmp_path / str(micro)))
    (whole_grad, whole_weights, whole_log, whole_items), (micro_grad, micro_weights, micro_log, micro_items) = runs
    assert len(micro_items) == 4 and sum(micro_items) == sum(whole_items)
    if kind == "token":
        assert len(set(micro_items)) > 1, f"the micro-batches should differ in labelled words: {micro_items}"
    assert micro_log["loss"] == pytest.approx(whole_log["loss"], rel=1e-5)
    assert micro_log["grad_norm"] == pytest.approx(whole_log["grad_norm"], rel=1e-4)
    assert whole_grad.keys() == micro_grad.keys()
    for name, gradient in whole_grad.items():
        torch.testing.assert_close(micro_grad[name], gradient, rtol=1e-4, atol=1e-6, msg=name)
    for name, weights in whole_weights.items():
        torch.testing.assert_close(micro_weights[name], weights, rtol=1e-5, atol=1e-6, msg=name)


# ------------------------------------------------------------------ length-sorted inference
@pytest.mark.parametrize("kind", list(DATASETS))
def test_length_sorted_inference_gives_the_same_rows_and_predictions(kind, data_demo, prepared, tmp_path):
    """The teacher pass and the evaluation run longest features first and put outputs back in feature order."""
    task = task_of(kind, data_demo)
    source = data_demo["models"][TEACHER]["pretrained"]
    tokenizer = load_tokenizer(source, split_words=task.pre_split)
    model = load_task_model(source, task.auto_model, task.labels)
    examples = read_split(prepared[kind]["validation"]).select(range(32))
    features = task.featurize(examples, tokenizer)
    lengths = [len(ids) for ids in features.inputs["input_ids"]]
    assert lengths != sorted(lengths, reverse=True), "the features should not already be in length order"

    rows = {by_length: teacher_rows(model, task, tokenizer, examples, 8, by_length) for by_length in (True, False)}
    assert len(rows[True]) == len(examples)
    for sorted_row, plain_row in zip(rows[True], rows[False]):
        assert sorted_row.keys() == plain_row.keys()
        for name in sorted_row:
            np.testing.assert_allclose(sorted_row[name], plain_row[name], rtol=1e-5, atol=1e-5)
    outputs = {by_length: model_outputs(model, task, tokenizer, features, 8, by_length) for by_length in (True, False)}
    assert task.predictions(outputs[True], features, examples) == task.predictions(outputs[False], features, examples)

    split = Split(examples, features)
    evaluations = []
    for by_length in (True, False):
        job = GridJob(DATASETS[kind], TEACHER, source, task, train_settings(group_by_length=by_length, eval_batch_size=8),
                      Schedule(8, 1e-3, 1), {})  # fmt: skip
        trainer = make_trainer(job, tokenizer, model, split, split, str(tmp_path / str(by_length)))
        evaluations.append(evaluate(trainer, task, split))
    assert evaluations[0].predictions == evaluations[1].predictions
    assert evaluations[0].predictions == dict(zip(examples["id"], task.predictions(outputs[False], features, examples)))


# ------------------------------------------------------------------ precision
def test_precision_auto_is_fp32_on_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_precision("auto") == "fp32"
    assert resolve_precision("fp32") == "fp32"
    with pytest.raises(ValueError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16")
    with pytest.raises(ValueError, match="expected one of auto, fp32, bf16, fp16"):
        resolve_precision("fp8")


@pytest.mark.parametrize("gpu", [False, True], ids=["cpu", "gpu"])
def test_bf16_without_hardware_support_is_refused(gpu, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    monkeypatch.setattr("speedy.training.bf16_supported", lambda: False)
    with pytest.raises(ValueError, match=f"this machine's {'GPU' if gpu else 'CPU'} has no bf16 support; set finetune.precision"):
        resolve_precision("bf16")
    assert resolve_precision("auto") == ("fp16" if gpu else "fp32")  # older GPUs: fp16 with loss scaling


def test_auto_takes_bf16_on_gpus_that_have_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr("speedy.training.bf16_supported", lambda: True)
    assert resolve_precision("auto") == "bf16"


# ------------------------------------------------------------------ determinism and resuming
def distillation_job(data_demo, prepared, checkpoints: str | None = None) -> GridJob:
    """A demo-sized distillation on the token task, with micro-batches, grouping and early stopping."""
    task = task_of("token", data_demo)
    cached = cached_teacher(data_demo, task, read_split(prepared["token"]["train"]))
    return GridJob("pos", STUDENT, data_demo["models"][STUDENT]["pretrained"], task, train_settings(logging_steps=5),
                   Schedule(16, 5e-3, 3, patience=1, micro_batch=8), prepared["token"], teacher=cached, kd=KDSettings())  # fmt: skip


def test_same_seed_gives_byte_identical_outputs(data_demo, prepared, tmp_path):
    """One job run twice: the same metrics.json, predictions.json and model files, byte for byte."""
    job = distillation_job(data_demo, prepared)
    for run in ("a", "b"):
        out = tmp_path / run
        run_grid_job(job, str(out), checkpoints=str(tmp_path / f"ck-{run}"))
        assert not (tmp_path / f"ck-{run}").exists(), "the checkpoint folder goes once the job succeeds"
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert (metrics["micro_batch"], metrics["gradient_accumulation_steps"], metrics["precision"]) == (8, 2, "fp32")
    for name in ("metrics.json", "predictions.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    files = sorted(p.name for p in (tmp_path / "a" / "model").iterdir())
    assert "model.safetensors" in files
    for name in files:
        assert (tmp_path / "a" / "model" / name).read_bytes() == (tmp_path / "b" / "model" / name).read_bytes(), name


def test_only_complete_checkpoints_of_the_same_job_are_resumed(data_demo, prepared, tmp_path):
    """The last complete checkpoint (it has trainer_state.json) is resumed; one cut short is removed; a folder of other
    settings or input files (another micro-batch size is the same job) is emptied."""
    job = GridJob("xnli", STUDENT, "source", task_of("classification", data_demo), train_settings(), Schedule(16, 1e-3, 3),
                  prepared["classification"])  # fmt: skip
    folder = tmp_path / "ck"
    assert last_checkpoint(folder, job) is None and (folder / "job.json").exists()
    for step, complete in ((4, True), (8, True), (12, False)):
        (folder / f"checkpoint-{step}").mkdir()
        if complete:
            (folder / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    assert last_checkpoint(folder, job) == str(folder / "checkpoint-8")
    assert not (folder / "checkpoint-12").exists()
    smaller = GridJob(**{**job.__dict__, "schedule": Schedule(16, 1e-3, 3, micro_batch=4)})
    assert last_checkpoint(folder, smaller) == str(folder / "checkpoint-8")
    other = GridJob(**{**job.__dict__, "settings": train_settings(weight_decay=0.1)})
    assert last_checkpoint(folder, other) is None and not (folder / "checkpoint-8").exists()
    (folder / "checkpoint-4" / "trainer_state.json").parent.mkdir()
    (folder / "checkpoint-4" / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    os.utime(prepared["classification"]["train"])  # the prepared data was written again
    assert last_checkpoint(folder, other) is None and not (folder / "checkpoint-4").exists()


# A grid job in its own process (as the workflow runs it): python -c DRIVER SPEC OUT [PAUSE]. With PAUSE, it sleeps
# that long after each checkpoint it saves, so that the test can kill it there.
DRIVER = """
import json, logging, sys, time
from pathlib import Path
import torch
from transformers import TrainerCallback
from speedy.tasks import make_task, TaskSettings
from speedy.training import GridJob, Schedule, TrainSettings, run_grid_job

logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
torch.set_num_threads(1)
spec, out, pause = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]), float(sys.argv[3])

class Pause(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        time.sleep(pause)

task = make_task(spec["task"], TaskSettings(**spec["task_settings"]), spec["labels"])
job = GridJob(spec["dataset"], spec["model"], spec["source"], task, TrainSettings(**spec["train"]),
              Schedule(**spec["schedule"]), spec["splits"], grid=spec["schedule"])
run_grid_job(job, str(out), callbacks=[Pause()] if pause else [], checkpoints=spec["checkpoints"])
"""


def start_job(spec: dict, out: Path, tmp: Path, pause: float = 0.0) -> subprocess.Popen:
    """The grid job of `spec` in a new process whose temp dir is `tmp`; its log goes to OUT.log."""
    spec_file = out.with_suffix(".json")
    spec_file.write_text(json.dumps(spec))
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    log = open(out.with_suffix(".log"), "a")
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(spec_file), str(out), str(pause)], stdout=log, stderr=subprocess.STDOUT, env=env)


def test_a_killed_job_resumes_from_its_checkpoint(data_demo, prepared, tmp_path):
    """SIGKILL after the first epoch's checkpoint, rerun: the same metrics.json, predictions and weights, byte for
    byte, as an uninterrupted run; then no checkpoint and nothing in the temp dir is left."""
    spec = {
        "dataset": "xnli", "model": STUDENT, "source": data_demo["models"][STUDENT]["pretrained"], "task": "classification",
        "task_settings": {"max_seq_length": 64}, "labels": data_demo["datasets"]["xnli"]["labels"],
        "train": {"seed": 3, "weight_decay": 0.01, "warmup_ratio": 0.1, "eval_batch_size": 16, "logging_steps": 4},
        "schedule": {"batch_size": 16, "learning_rate": 2e-3, "epochs": 3, "micro_batch": 8}, "splits": prepared["classification"],
    }  # fmt: skip
    temp = tmp_path / "tmp"
    temp.mkdir()
    plain = start_job({**spec, "checkpoints": str(tmp_path / "ck-plain")}, tmp_path / "plain", temp)
    checkpoints = tmp_path / "ck-killed"
    killed = start_job({**spec, "checkpoints": str(checkpoints)}, tmp_path / "killed", temp, pause=120)
    deadline = time.monotonic() + 300
    while not list(checkpoints.glob("checkpoint-*/trainer_state.json")):
        assert killed.poll() is None and time.monotonic() < deadline, (tmp_path / "killed.log").read_text()[-3000:]
        time.sleep(0.2)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL
    assert not (tmp_path / "killed" / "metrics.json").exists()
    first = sorted(p.name for p in checkpoints.glob("checkpoint-*"))
    assert start_job({**spec, "checkpoints": str(checkpoints)}, tmp_path / "killed", temp).wait() == 0
    assert plain.wait() == 0, (tmp_path / "plain.log").read_text()[-3000:]

    log = (tmp_path / "killed.log").read_text()
    assert f"resuming from checkpoint {checkpoints / first[-1]}" in log
    assert "batch 16 as 2 micro-batch(es) of 8, precision fp32, length-grouped batches" in log
    for name in ("metrics.json", "predictions.json", "model/model.safetensors"):
        assert (tmp_path / "killed" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes(), name
    assert json.loads((tmp_path / "killed" / "metrics.json").read_text())["epochs_trained"] == 3.0
    assert not checkpoints.exists() and not (tmp_path / "ck-plain").exists()
    assert list(temp.iterdir()) == []
