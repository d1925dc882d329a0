"""The shared training path: one grid job (fine-tuning or distillation), inference passes and evaluation."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from transformers import EarlyStoppingCallback, PreTrainedModel, Trainer, TrainerCallback, TrainingArguments, set_seed

from speedy.data import read_split
from speedy.kd import FEATURE_INDEX, BatchCollator, DistillationTrainer, KDSettings, TeacherSource
from speedy.models import load_task_model, load_tokenizer
from speedy.tasks import Features, Task, TeacherRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    """What every training job shares (the config's `seed` and `finetune` block, grids aside)."""

    seed: int
    weight_decay: float
    warmup_ratio: float
    eval_batch_size: int
    logging_steps: int


@dataclass(frozen=True)
class Schedule:
    """How long and how a grid job trains."""

    batch_size: int
    learning_rate: float
    epochs: int
    patience: int | None = None  # early stopping on validation loss; None trains all epochs
    evaluate_each_epoch: bool = True


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


def featurize_split(task: Task, tokenizer, path: str) -> Split:
    """Read a prepared split and featurize it."""
    examples = read_split(path)
    return Split(examples, task.featurize(examples, tokenizer))


def training_arguments(out_dir: str, schedule: Schedule, settings: TrainSettings) -> TrainingArguments:
    """TrainingArguments for a schedule: epoch evaluation, best-epoch restore when early stopping."""
    early = schedule.patience is not None
    return TrainingArguments(
        output_dir=out_dir,
        per_device_train_batch_size=schedule.batch_size,
        per_device_eval_batch_size=settings.eval_batch_size,
        learning_rate=schedule.learning_rate,
        num_train_epochs=schedule.epochs,
        weight_decay=settings.weight_decay,
        warmup_steps=settings.warmup_ratio,
        eval_strategy="epoch" if schedule.evaluate_each_epoch else "no",
        save_strategy="epoch" if early else "no",
        save_total_limit=1 if early else None,
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


def make_trainer(
    job: GridJob, tokenizer, model: PreTrainedModel, train: Split, validation: Split | None, out_dir: str,
    callbacks: Sequence[TrainerCallback] = (),
) -> Trainer:  # fmt: skip
    """A Trainer for fine-tuning, or a DistillationTrainer whose training features carry their teacher's index."""
    train_inputs = train.features.inputs
    if job.teacher is not None:
        train_inputs = train_inputs.add_column(FEATURE_INDEX, list(range(len(train_inputs))))
    kwargs: dict[str, Any] = {
        "model": model,
        "args": training_arguments(out_dir, job.schedule, job.settings),
        "train_dataset": train_inputs,
        "eval_dataset": validation.features.inputs if validation else None,
        "data_collator": BatchCollator(job.task, tokenizer, job.teacher, train.features),
        "processing_class": tokenizer,
    }
    kwargs["callbacks"] = list(callbacks)
    if job.schedule.patience is not None:
        kwargs["callbacks"].append(EarlyStoppingCallback(early_stopping_patience=job.schedule.patience))
    if job.teacher is None:
        return Trainer(**kwargs)
    return DistillationTrainer(**kwargs, task=job.task, kd=job.kd or KDSettings())


@dataclass
class Evaluation:
    """A trained model on one split: its losses and one prediction and reference per example id."""

    loss: float
    selection_loss: float
    predictions: dict[str, Any]
    references: dict[str, Any]


def evaluate(trainer: Trainer, task: Task, split: Split) -> Evaluation:
    """Loss, selection loss, predictions and references of the trained model on a split."""
    result = trainer.predict(split.features.inputs)
    raw = result.predictions if isinstance(result.predictions, tuple) else (result.predictions,)
    outputs = dict(zip(task.outputs, raw))
    loss = float(next(v for k, v in result.metrics.items() if k.endswith("_loss")))
    selection = task.selection_loss(outputs, split.features, split.examples)
    ids = list(split.examples["id"])
    return Evaluation(
        loss=loss,
        selection_loss=loss if selection is None else selection,
        predictions=dict(zip(ids, task.predictions(outputs, split.features, split.examples))),
        references=dict(zip(ids, task.references(split.examples))),
    )


def run_grid_job(
    job: GridJob, out_model: str, out_metrics: str, out_predictions: str, callbacks: Sequence[TrainerCallback] = ()
) -> dict[str, Any]:
    """Train one grid point; save the model, its validation losses and its validation and test predictions.

    `callbacks` join the Trainer's (e.g. a study's pruner, which sees each epoch's evaluation).
    """
    set_seed(job.settings.seed)
    tokenizer = load_tokenizer(job.source, split_words=job.task.pre_split)
    model = load_task_model(job.source, job.task.auto_model, job.task.labels)
    splits = {name: featurize_split(job.task, tokenizer, path) for name, path in job.splits.items()}
    log.info("%s on %s, grid %s: %d train features", job.model, job.dataset, job.grid, len(splits["train"].features.inputs))
    with tempfile.TemporaryDirectory(prefix="speedy-trainer-") as scratch:
        trainer = make_trainer(job, tokenizer, model, splits["train"], splits["validation"], scratch, callbacks)
        started = time.perf_counter()
        state = trainer.train()
        log.info("trained in %.1f s", time.perf_counter() - started)
        evaluations = {name: evaluate(trainer, job.task, splits[name]) for name in ("validation", "test")}
    job.task.save(trainer.model, tokenizer, out_model)
    predictions = {name: {"predictions": e.predictions, "references": e.references} for name, e in evaluations.items()}
    Path(out_predictions).write_text(json.dumps(predictions, ensure_ascii=False))
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
        "train_loss": float(state.training_loss),
    }
    Path(out_metrics).write_text(json.dumps(result, indent=2))
    log.info("validation loss %.4f, selection loss %.4f", validation.loss, validation.selection_loss)
    return result


def model_outputs(model: PreTrainedModel, task: Task, tokenizer, features: Features, batch_size: int) -> dict[str, list[np.ndarray]]:
    """Batched inference-mode outputs of a model, one array per feature (per-token outputs padded to their batch)."""
    loader = torch.utils.data.DataLoader(features.inputs, batch_size=batch_size, collate_fn=BatchCollator(task, tokenizer))
    device = next(model.parameters()).device
    model.eval()
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in task.outputs}
    with torch.inference_mode():
        for batch in loader:
            result = model(**{k: v.to(device) for k, v in batch.items() if k in tokenizer.model_input_names})
            for name in outputs:
                outputs[name] += list(getattr(result, name).float().cpu().numpy())
    return outputs


def teacher_rows(model: PreTrainedModel, task: Task, tokenizer, examples: datasets.Dataset, batch_size: int) -> list[TeacherRow]:
    """The teacher's per-example outputs (what the cache stores) for some examples, in their order."""
    features = task.featurize(examples, tokenizer)
    return task.teacher_rows(model_outputs(model, task, tokenizer, features, batch_size), features, examples)


def live_teacher_outputs(model: PreTrainedModel, task: Task, tokenizer, examples: datasets.Dataset, batch_size: int):
    """A function from example ids to teacher rows that runs the teacher each time (the no-cache mode)."""
    position = {example_id: i for i, example_id in enumerate(examples["id"])}

    def rows(example_ids: list[str]) -> list[TeacherRow]:
        return teacher_rows(model, task, tokenizer, examples.select([position[i] for i in example_ids]), batch_size)

    return rows
