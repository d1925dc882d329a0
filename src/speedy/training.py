"""The shared training path: one grid job (fine-tuning or distillation), teacher passes, and evaluation."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from transformers import EarlyStoppingCallback, PreTrainedModel, Trainer, TrainingArguments, set_seed

from speedy import metrics
from speedy.data import read_labels, read_split
from speedy.kd import DistillationTrainer, KDSettings, TeacherCollator, TeacherSource
from speedy.models import load_task_model, load_tokenizer
from speedy.tasks import Features, Task, TaskSettings, TeacherRow, make_task

log = logging.getLogger(__name__)
OUTPUT_NAMES = {"classification": ("logits",), "token": ("logits",), "qa": ("start_logits", "end_logits")}


@dataclass(frozen=True)
class Schedule:
    """How long and how a grid job trains."""

    batch_size: int
    learning_rate: float
    epochs: int
    patience: int | None = None  # early stopping on validation loss; None trains all epochs
    evaluate_each_epoch: bool = True


@dataclass
class DatasetFiles:
    """The prepared files of one dataset."""

    splits: dict[str, str]
    labels: str


@dataclass
class Split:
    """Examples of one split and their features for one tokenizer."""

    examples: datasets.Dataset
    features: Features


@dataclass
class GridJob:
    """One grid point of fine-tuning, or of distillation when a teacher source is given."""

    config: dict[str, Any]
    dataset: str
    model: str
    source: str
    schedule: Schedule
    files: DatasetFiles
    teacher: TeacherSource | None = None
    grid: dict[str, Any] = field(default_factory=dict)


def load_task(config: dict[str, Any], dataset: str, labels_file: str) -> Task:
    """The task adaptor of a dataset, with its label names."""
    return make_task(config["datasets"][dataset]["task"], TaskSettings.from_config(config), read_labels(labels_file))


def load_split(task: Task, tokenizer, path: str) -> Split:
    """Read a prepared split and featurize it."""
    examples = read_split(path)
    return Split(examples, task.featurize(examples, tokenizer))


def training_arguments(out_dir: str, schedule: Schedule, config: dict[str, Any]) -> TrainingArguments:
    """TrainingArguments for a schedule: epoch evaluation, best-epoch restore when early stopping."""
    ft = config["finetune"]
    early = schedule.patience is not None
    return TrainingArguments(
        output_dir=out_dir,
        per_device_train_batch_size=schedule.batch_size,
        per_device_eval_batch_size=ft["eval_batch_size"],
        learning_rate=schedule.learning_rate,
        num_train_epochs=schedule.epochs,
        weight_decay=ft["weight_decay"],
        warmup_steps=ft["warmup_ratio"],
        eval_strategy="epoch" if schedule.evaluate_each_epoch else "no",
        save_strategy="epoch" if early else "no",
        save_total_limit=1 if early else None,
        load_best_model_at_end=early,
        metric_for_best_model="eval_loss" if early else None,
        greater_is_better=False if early else None,
        logging_strategy="steps",
        logging_steps=ft["logging_steps"],
        report_to="none",
        seed=config["seed"],
        data_seed=config["seed"],
        remove_unused_columns=False,
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
    )


def make_trainer(
    job: GridJob, task: Task, tokenizer, model: PreTrainedModel, train: Split, validation: Split | None, out_dir: str
) -> Trainer:
    """A Trainer for fine-tuning, or a DistillationTrainer when the job has a teacher."""
    kwargs: dict[str, Any] = {
        "model": model,
        "args": training_arguments(out_dir, job.schedule, job.config),
        "train_dataset": train.features.inputs,
        "eval_dataset": validation.features.inputs if validation else None,
        "data_collator": TeacherCollator(task, tokenizer, train.features, job.teacher),
        "processing_class": tokenizer,
    }
    if job.schedule.patience is not None:
        kwargs["callbacks"] = [EarlyStoppingCallback(early_stopping_patience=job.schedule.patience)]
    if job.teacher is None:
        return Trainer(**kwargs)
    return DistillationTrainer(**kwargs, task=task, kd=KDSettings.from_config(job.config))


def evaluate(trainer: Trainer, task: Task, tokenizer, split: Split, metric: str) -> tuple[float, dict[str, float], list[Any]]:
    """Validation loss, metric scores and per-example predictions of the trained model on a split."""
    trainer.data_collator = TeacherCollator(task, tokenizer)
    result = trainer.predict(split.features.inputs)
    raw = result.predictions if isinstance(result.predictions, tuple) else (result.predictions,)
    outputs = dict(zip(OUTPUT_NAMES[task.name], raw))
    predictions = task.predictions(outputs, split.features, split.examples)
    scores = metrics.compute(metric, *task.metric_inputs(predictions, split.examples))
    loss = next(v for k, v in result.metrics.items() if k.endswith("_loss"))
    return float(loss), scores, predictions


def run_grid_job(job: GridJob, out_model: str, out_metrics: str) -> dict[str, Any]:
    """Train one grid point, evaluate it on validation and test, save the model and its metrics JSON."""
    set_seed(job.config["seed"])
    task = load_task(job.config, job.dataset, job.files.labels)
    metric = job.config["datasets"][job.dataset]["metric"]
    tokenizer = load_tokenizer(job.source)
    model = load_task_model(job.source, task.model_task, task.labels)
    splits = {name: load_split(task, tokenizer, path) for name, path in job.files.splits.items()}
    log.info("%s on %s, grid %s: %d train features", job.model, job.dataset, job.grid, len(splits["train"].features.inputs))
    with tempfile.TemporaryDirectory(prefix="speedy-trainer-") as scratch:
        trainer = make_trainer(job, task, tokenizer, model, splits["train"], splits["validation"], scratch)
        started = time.perf_counter()
        state = trainer.train()
        train_seconds = time.perf_counter() - started
        val_loss, val_scores, _ = evaluate(trainer, task, tokenizer, splits["validation"], metric)
        _, test_scores, test_predictions = evaluate(trainer, task, tokenizer, splits["test"], metric)
    task.save(trainer, out_model)
    Path(out_model, "test_predictions.json").write_text(
        json.dumps(dict(zip(splits["test"].examples["id"], test_predictions)), ensure_ascii=False)
    )
    result = {
        "dataset": job.dataset,
        "model": job.model,
        "task": task.name,
        "metric": metric,
        "grid": job.grid,
        "validation": {"loss": val_loss, **val_scores},
        "test": test_scores,
        "epochs_trained": float(trainer.state.epoch or 0),
        "train_seconds": train_seconds,
        "train_loss": float(state.training_loss),
    }
    Path(out_metrics).write_text(json.dumps(result, indent=2))
    log.info("validation %s, test %s", result["validation"], test_scores)
    return result


def model_outputs(model: PreTrainedModel, task: Task, tokenizer, features: Features, batch_size: int) -> dict[str, list[np.ndarray]]:
    """Batched inference-mode outputs of a model, one unpadded array per feature."""
    collate = TeacherCollator(task, tokenizer)
    loader = torch.utils.data.DataLoader(features.inputs, batch_size=batch_size, collate_fn=collate)
    device = next(model.parameters()).device
    model.eval()
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in OUTPUT_NAMES[task.name]}
    with torch.inference_mode():
        for batch in loader:
            lengths = batch["attention_mask"].sum(-1).tolist()
            inputs = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
            result = model(**inputs)
            for name in outputs:
                values = getattr(result, name).float().cpu().numpy()
                outputs[name] += [v if task.name == "classification" else v[:n] for v, n in zip(values, lengths)]
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


def dataset_files(inputs: Any) -> DatasetFiles:
    """The prepared splits and label file among a Snakemake job's named inputs."""
    return DatasetFiles(splits={s: getattr(inputs, s) for s in ("train", "validation", "test")}, labels=inputs.labels)
