"""Knowledge distillation: the loss, where teacher outputs come from (cache or live), batches and the Trainer.

The distiller never names a task: the task adaptor turns teacher rows into targets for a batch, and pairs
them with the student's outputs; here they travel in the batch under one key, `teacher`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from speedy.batches import BatchTrainer
from speedy.tasks import Features, Task, TeacherRow

TEACHER = "teacher"  # the batch key of the teacher targets
FEATURE_INDEX = "feature_index"  # the column that ties a training feature to its example's teacher row


@dataclass(frozen=True)
class KDSettings:
    """L = alpha * CE(gold) + (1 - alpha) * KD, KD one of kl | ce | mse at temperature T."""

    alpha: float = 0.0
    temperature: float = 1.0
    loss: str = "kl"


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, kind: str = "kl", temperature: float = 1.0) -> torch.Tensor:
    """Mean over rows of KL (T²-scaled), soft CE (T²-scaled) or MSE between [N, K] logits; -inf teacher entries are excluded."""
    if student.shape[0] == 0:
        return student.sum() * 0.0
    if kind == "mse":
        keep = torch.isfinite(teacher)
        return F.mse_loss(student[keep], teacher[keep])
    t_prob = F.softmax(teacher / temperature, dim=-1)
    s_logp = F.log_softmax(student / temperature, dim=-1)
    present = t_prob > 0
    cross = torch.where(present, -t_prob * s_logp, torch.zeros_like(t_prob)).sum(-1)
    if kind == "ce":
        per_row = cross
    elif kind == "kl":
        t_logp = F.log_softmax(teacher / temperature, dim=-1)
        per_row = cross + torch.where(present, t_prob * t_logp, torch.zeros_like(t_prob)).sum(-1)
    else:
        raise ValueError(f"unknown KD loss {kind!r}; expected kl, ce or mse")
    return per_row.mean() * temperature**2


class TeacherSource(Protocol):
    """Where teacher outputs come from: rows by example id."""

    def rows(self, example_ids: Sequence[str]) -> list[TeacherRow]: ...


class CachedTeacher:
    """Teacher outputs read back from the Parquet cache."""

    def __init__(self, rows_by_id: dict[str, TeacherRow]):
        self.rows_by_id = rows_by_id

    def rows(self, example_ids):
        return [self.rows_by_id[i] for i in example_ids]


class LiveTeacher:
    """The no-cache mode: runs the teacher on every batch (what the cache saves; used for Table 8)."""

    def __init__(self, outputs: Callable[[list[str]], list[TeacherRow]]):
        self.outputs = outputs

    def rows(self, example_ids):
        return self.outputs(list(example_ids))


class BatchCollator:
    """Pads features into a batch; items that carry a `feature_index` (the training features of a distillation)
    also get their teacher's targets, under `teacher`."""

    def __init__(self, task: Task, tokenizer, teacher: TeacherSource | None = None, features: Features | None = None):
        self.task, self.teacher, self.features = task, teacher, features
        self.pad = task.padding(tokenizer)

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.pad([{k: v for k, v in item.items() if k != FEATURE_INDEX} for item in items])
        if FEATURE_INDEX in items[0]:
            indices = [item[FEATURE_INDEX] for item in items]
            rows = self.teacher.rows([self.features.example_ids[i] for i in indices])
            batch[TEACHER] = self.task.teacher_targets(rows, self.features, indices, batch["input_ids"].shape[1])
        return batch


class DistillationTrainer(BatchTrainer):
    """A Trainer whose loss mixes gold CE with KD against the teacher targets of training batches.

    Evaluation batches carry no teacher: the validation loss is the student's CE on gold, as in fine-tuning.
    Each task's KD rows are its labelled items (examples, words, windows), the items of its gold loss, so
    micro-batches add up to the whole batch for both terms (see BatchTrainer).
    """

    def __init__(self, *args: Any, task: Task, kd: KDSettings, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.task, self.kd = task, kd

    def batch_loss(self, model, inputs):
        targets = inputs.pop(TEACHER, None)
        outputs = model(**inputs)
        loss = outputs.loss
        if targets is not None:
            pairs = self.task.kd_pairs(outputs, targets)
            kd = sum(kd_loss(s, t, self.kd.loss, self.kd.temperature) for s, t in pairs) / len(pairs)
            loss = self.kd.alpha * loss + (1 - self.kd.alpha) * kd
        return loss, outputs
