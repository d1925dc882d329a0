"""The shared training path: one grid job (fine-tuning or distillation), inference passes and evaluation."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from transformers import EarlyStoppingCallback, PreTrainedModel, TrainerCallback, TrainingArguments, set_seed
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from speedy.batches import BatchTrainer, length_order, micro_batches
from speedy.data import read_split
from speedy.grid import GridPoint
from speedy.kd import FEATURE_INDEX, BatchCollator, DistillationTrainer, KDSettings, TeacherSource
from speedy.models import load_task_model, load_tokenizer
from speedy.tasks import Features, Task, TeacherRow

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
TRAINER_STATE = "trainer_state.json"  # the last file a checkpoint gets: a checkpoint without it is incomplete


@dataclass(frozen=True)
class TrainSettings:
    """What every training job shares (the config's `seed` and `finetune` block, grids aside)."""

    seed: int
    weight_decay: float
    warmup_ratio: float
    eval_batch_size: int
    logging_steps: int
    group_by_length: bool = True  # training batches grouped by length, inference in length order
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (see resolve_precision)


@dataclass(frozen=True)
class Schedule:
    """How long and how a grid job trains."""

    batch_size: int
    learning_rate: float
    epochs: int
    patience: int | None = None  # early stopping on validation loss; None trains all epochs
    evaluate_each_epoch: bool = True
    micro_batch: int | None = None  # most examples per forward pass (gradient accumulation); None: the whole batch


@dataclass
class Split:
    """Examples of one prepared split and their features for one tokenizer."""

    examples: datasets.Dataset
    features: Features


@dataclass
class GridJob:
    """One grid point of fine-tuning, or of distillation when it has a teacher."""

    dataset: str
    model: str
    source: str  # what from_pretrained loads: hub id or folder
    task: Task
    settings: TrainSettings
    schedule: Schedule
    splits: dict[str, str]  # prepared Parquet file per split
    grid: dict[str, Any] = field(default_factory=dict)
    teacher: TeacherSource | None = None
    kd: KDSettings | None = None
    inputs: tuple[str, ...] = ()  # other files it reads (the teacher cache): its checkpoints resume only while unchanged


def featurize_split(task: Task, tokenizer, path: str) -> Split:
    """Read a prepared split and featurize it."""
    examples = read_split(path)
    return Split(examples, task.featurize(examples, tokenizer))


def bf16_supported() -> bool:
    """Whether the training device (the GPU where there is one, else the CPU) computes in bf16."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def resolve_precision(requested: str) -> str:
    """The precision a job trains in: `auto` is bf16 on GPUs that have it, fp16 (with loss scaling) on older GPUs,
    and fp32 on CPU; an explicit precision that the machine lacks is an error."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision {requested!r}: expected one of {', '.join(PRECISIONS)}")
    gpu = torch.cuda.is_available()
    if requested == "auto":
        return ("bf16" if bf16_supported() else "fp16") if gpu else "fp32"
    if requested == "bf16" and not bf16_supported():
        device = "GPU" if gpu else "CPU"
        raise ValueError(f"precision bf16: this machine's {device} has no bf16 support; set finetune.precision to auto or fp32")
    if requested == "fp16" and not gpu:
        raise ValueError("precision fp16 needs a CUDA GPU (it trains with loss scaling); set finetune.precision to auto, fp32 or bf16")
    return requested


def allow_tf32() -> None:
    """Let fp32 matmuls run in TF32 on GPUs that have it (Ampere and later)."""
    if torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8:
        torch.set_float32_matmul_precision("high")


def training_arguments(out_dir: str, schedule: Schedule, settings: TrainSettings, checkpoints: bool = False) -> TrainingArguments:
    """TrainingArguments for a schedule: micro-batches, precision, epoch evaluation, and epoch checkpoints (when
    asked, and always for early stopping, which restores the best epoch)."""
    early = schedule.patience is not None
    save = checkpoints or early
    micro, steps = micro_batches(schedule.batch_size, schedule.micro_batch)
    precision = resolve_precision(settings.precision)
    return TrainingArguments(
        output_dir=out_dir,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=steps,
        per_device_eval_batch_size=settings.eval_batch_size,
        learning_rate=schedule.learning_rate,
        num_train_epochs=schedule.epochs,
        weight_decay=settings.weight_decay,
        warmup_steps=settings.warmup_ratio,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        eval_strategy="epoch" if schedule.evaluate_each_epoch else "no",
        save_strategy="epoch" if save else "no",
        save_total_limit=1 if save else None,
        restore_callback_states_from_checkpoint=True,
        load_best_model_at_end=early,
        metric_for_best_model="eval_loss" if early else None,
        greater_is_better=False if early else None,
        logging_strategy="steps",
        logging_steps=settings.logging_steps,
        report_to="none",
        seed=settings.seed,
        data_seed=settings.seed,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
    )


class EpochEnds(TrainerCallback):
    """Logs the training loss at every epoch end, so that a checkpoint's state holds every step's loss; and saves no
    checkpoint at an epoch that stops training before the schedule's end (early stopping, never at a best epoch),
    so that a rerun repeats that epoch rather than resume training past the stop."""

    def on_epoch_end(self, args, state, control, **kwargs):
        control.should_log = True

    def on_evaluate(self, args, state, control, **kwargs):
        if control.should_training_stop and state.global_step < state.max_steps:
            control.should_save = False


def in_order(inputs: datasets.Dataset, by_length: bool) -> np.ndarray:
    """The order inference runs features in: longest first when `by_length`, else as they are."""
    return length_order(inputs) if by_length else np.arange(len(inputs))


def make_trainer(
    job: GridJob, tokenizer, model: PreTrainedModel, train: Split, validation: Split | None, out_dir: str,
    callbacks: Sequence[TrainerCallback] = (), checkpoints: bool = False,
) -> BatchTrainer:  # fmt: skip
    """A trainer for fine-tuning, or a DistillationTrainer whose training features carry their teacher's index.

    With `checkpoints`, it saves a checkpoint in `out_dir` at each epoch end (the last one, and the best one for
    early stopping). The validation split runs in length order when batches are grouped.
    """
    train_inputs = train.features.inputs
    if job.teacher is not None:
        train_inputs = train_inputs.add_column(FEATURE_INDEX, list(range(len(train_inputs))))
    by_length = job.settings.group_by_length
    early = [] if job.schedule.patience is None else [EarlyStoppingCallback(early_stopping_patience=job.schedule.patience)]
    kwargs: dict[str, Any] = {
        "model": model,
        "args": training_arguments(out_dir, job.schedule, job.settings, checkpoints),
        "train_dataset": train_inputs,
        "eval_dataset": validation.features.inputs.select(in_order(validation.features.inputs, by_length)) if validation else None,
        "data_collator": BatchCollator(job.task, tokenizer, job.teacher, train.features),
        "processing_class": tokenizer,
        "callbacks": [*callbacks, *early, EpochEnds()],
        "group_by_length": by_length,
    }
    if job.teacher is None:
        return BatchTrainer(**kwargs)
    return DistillationTrainer(**kwargs, task=job.task, kd=job.kd or KDSettings())


@dataclass
class Evaluation:
    """A trained model on one split: its losses and one prediction and reference per example id."""

    loss: float
    selection_loss: float
    predictions: dict[str, Any]
    references: dict[str, Any]


def evaluate(trainer: BatchTrainer, task: Task, split: Split) -> Evaluation:
    """Loss, selection loss, predictions and references of the trained model on a split (run in length order when
    the trainer groups batches; outputs back in feature order)."""
    order = in_order(split.features.inputs, trainer.group_by_length)
    result = trainer.predict(split.features.inputs.select(order))
    raw = result.predictions if isinstance(result.predictions, tuple) else (result.predictions,)
    back = np.argsort(order)
    outputs = {name: values[back] for name, values in zip(task.outputs, raw)}
    loss = float(next(v for k, v in result.metrics.items() if k.endswith("_loss")))
    selection = task.selection_loss(outputs, split.features, split.examples)
    ids = list(split.examples["id"])
    return Evaluation(
        loss=loss,
        selection_loss=loss if selection is None else selection,
        predictions=dict(zip(ids, task.predictions(outputs, split.features, split.examples))),
        references=dict(zip(ids, task.references(split.examples))),
    )


def job_description(job: GridJob) -> str:
    """What a grid job's checkpoints depend on, as JSON: its settings, schedule (micro-batches aside) and input files."""
    files = {**job.splits, **{path: path for path in job.inputs}}
    files = {name: [path, Path(path).stat().st_size, Path(path).stat().st_mtime_ns] for name, path in files.items()}
    schedule = {k: v for k, v in asdict(job.schedule).items() if k != "micro_batch"}
    description = {
        "dataset": job.dataset, "model": job.model, "source": job.source, "grid": job.grid, "files": files,
        "task": {"name": job.task.name, "labels": job.task.labels, "settings": asdict(job.task.settings)},
        "settings": asdict(job.settings), "schedule": schedule, "kd": asdict(job.kd) if job.kd else None,
    }  # fmt: skip
    return json.dumps(description, indent=2, sort_keys=True)


def last_checkpoint(folder: Path, job: GridJob) -> str | None:
    """The last complete checkpoint of this job in its checkpoint folder, or None.

    A checkpoint cut short by a kill is removed; so is the whole folder when it belongs to another job (the
    settings or data changed since).
    """
    stamp = folder / "job.json"
    description = job_description(job)
    if folder.exists() and (not stamp.exists() or stamp.read_text() != description):
        log.warning("%s holds checkpoints of other settings or data: removed", folder)
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp.write_text(description)
    complete = {}
    for path in folder.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        try:
            complete[json.loads((path / TRAINER_STATE).read_text())["global_step"]] = path
        except (OSError, ValueError, KeyError):
            log.warning("incomplete checkpoint %s: removed", path)
            shutil.rmtree(path)
    return str(complete[max(complete)]) if complete else None


def mean_train_loss(log_history: list[dict[str, Any]]) -> float:
    """The mean training loss over all optimizer steps, from the logged means of each logging interval."""
    total, last = 0.0, 0
    for entry in log_history:
        if "loss" in entry:
            total += entry["loss"] * (entry["step"] - last)
            last = entry["step"]
    return total / last if last else float("nan")


def run_grid_job(
    job: GridJob, out_point: str, callbacks: Sequence[TrainerCallback] = (), checkpoints: str | None = None
) -> dict[str, Any]:
    """Train one grid point; save the model, its validation losses and its predictions in its folder (speedy.grid).

    `callbacks` join the Trainer's (e.g. a study's pruner, which sees each epoch's evaluation). `checkpoints` is the
    job's own folder for its epoch checkpoints: a rerun after a kill resumes from the last complete one, and the
    folder is removed once the outputs are written. Without it, only early stopping saves checkpoints, in a
    temporary folder.
    """
    set_seed(job.settings.seed)
    allow_tf32()
    tokenizer = load_tokenizer(job.source, split_words=job.task.pre_split)
    model = load_task_model(job.source, job.task.auto_model, job.task.labels)
    splits = {name: featurize_split(job.task, tokenizer, path) for name, path in job.splits.items()}
    log.info("%s on %s, grid %s: %d train features", job.model, job.dataset, job.grid, len(splits["train"].features.inputs))
    with contextlib.ExitStack() as stack:
        folder = checkpoints or stack.enter_context(tempfile.TemporaryDirectory(prefix="speedy-trainer-"))
        resume = last_checkpoint(Path(folder), job) if checkpoints else None
        trainer = make_trainer(job, tokenizer, model, splits["train"], splits["validation"], folder, callbacks, checkpoints is not None)
        args = trainer.args
        precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"
        log.info(
            "batch %d as %d micro-batch(es) of %d, precision %s, %s batches", job.schedule.batch_size,
            args.gradient_accumulation_steps, args.per_device_train_batch_size, precision,
            "length-grouped" if trainer.group_by_length else "random",
        )  # fmt: skip
        if resume:
            log.info("resuming from checkpoint %s", resume)
        started = time.perf_counter()
        trainer.train(resume_from_checkpoint=resume)
        log.info("trained in %.1f s", time.perf_counter() - started)
        evaluations = {name: evaluate(trainer, job.task, splits[name]) for name in ("validation", "test")}
    point = GridPoint(out_point)
    Path(point.folder).mkdir(parents=True, exist_ok=True)
    job.task.save(trainer.model, tokenizer, point.model)
    predictions = {name: {"predictions": e.predictions, "references": e.references} for name, e in evaluations.items()}
    Path(point.predictions).write_text(json.dumps(predictions, ensure_ascii=False))
    validation = evaluations["validation"]
    result = {
        "dataset": job.dataset,
        "model": job.model,
        "task": job.task.name,
        "grid": job.grid,
        "validation": {"loss": validation.loss, "selection_loss": validation.selection_loss},
        "selected_by": job.task.selected_by,
        "usage": job.task.usage(),
        "epochs_trained": float(trainer.state.epoch or 0),
        "train_loss": mean_train_loss(trainer.state.log_history),
        "micro_batch": args.per_device_train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "precision": precision,
        "group_by_length": trainer.group_by_length,
    }
    Path(point.metrics).write_text(json.dumps(result, indent=2))
    if checkpoints:
        shutil.rmtree(checkpoints)
    log.info("validation loss %.4f, selection loss %.4f", validation.loss, validation.selection_loss)
    return result


def batched_outputs(
    run: Callable[[dict[str, Any]], dict[str, Any]], task: Task, tokenizer, inputs: datasets.Dataset, batch_size: int,
    by_length: bool = True,
) -> dict[str, list[np.ndarray]]:  # fmt: skip
    """`run`'s outputs over collated batches of `inputs`, one array per feature in feature order (per-token outputs
    padded to their batch). With `by_length`, batches run in length order, so they pad little."""
    order = in_order(inputs, by_length)
    loader = torch.utils.data.DataLoader(inputs.select(order), batch_size=batch_size, collate_fn=BatchCollator(task, tokenizer))
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in task.outputs}
    for batch in loader:
        for name, values in run(batch).items():
            outputs[name] += list(values)
    back = np.argsort(order)
    return {name: [values[i] for i in back] for name, values in outputs.items()}


def model_outputs(
    model: PreTrainedModel, task: Task, tokenizer, features: Features, batch_size: int, by_length: bool = True
) -> dict[str, list[np.ndarray]]:  # fmt: skip
    """Batched inference-mode outputs of a model, one array per feature in feature order (see batched_outputs)."""
    device = next(model.parameters()).device
    model.eval()

    def run(batch: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        result = model(**{k: v.to(device) for k, v in batch.items() if k in tokenizer.model_input_names})
        return {name: getattr(result, name).float().cpu().numpy() for name in task.outputs}

    with torch.inference_mode():
        return batched_outputs(run, task, tokenizer, features.inputs, batch_size, by_length)


def teacher_rows(
    model: PreTrainedModel, task: Task, tokenizer, examples: datasets.Dataset, batch_size: int, by_length: bool = True
) -> list[TeacherRow]:  # fmt: skip
    """The teacher's per-example outputs (what the cache stores, in fp32) for some examples, in their order."""
    features = task.featurize(examples, tokenizer)
    return task.teacher_rows(model_outputs(model, task, tokenizer, features, batch_size, by_length), features, examples)


def live_teacher_outputs(model: PreTrainedModel, task: Task, tokenizer, examples: datasets.Dataset, batch_size: int):
    """A function from example ids to teacher rows that runs the teacher each time (the no-cache mode)."""
    position = {example_id: i for i, example_id in enumerate(examples["id"])}

    def rows(example_ids: list[str]) -> list[TeacherRow]:
        return teacher_rows(model, task, tokenizer, examples.select([position[i] for i in example_ids]), batch_size)

    return rows
