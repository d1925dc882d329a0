"""Knowledge distillation: the loss, teacher sources (cache or live), the joining collator and the Trainer."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from transformers import Trainer

from speedy.tasks import Features, Task, TeacherRow

TEACHER_KEYS = ("teacher_logits", "teacher_mask", "teacher_start", "teacher_end", "span_mask")


@dataclass(frozen=True)
class KDSettings:
    """L = alpha * CE(gold) + (1 - alpha) * KD, KD one of kl | ce | mse at temperature T."""

    alpha: float = 0.0
    temperature: float = 1.0
    loss: str = "kl"

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> KDSettings:
        """Settings from the `distillation` block of the config."""
        d = config["distillation"]
        return cls(alpha=d["alpha"], temperature=d["temperature"], loss=d["loss"])


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


class TeacherCollator:
    """Pads model inputs dynamically and, when a teacher is given, joins its outputs by example id."""

    def __init__(self, task: Task, tokenizer, features: Features | None = None, teacher: TeacherSource | None = None):
        self.task, self.tokenizer, self.features, self.teacher = task, tokenizer, features, teacher
        self.pad = task.base_collator(tokenizer)

    def without_teacher(self) -> TeacherCollator:
        """The same padding with no teacher outputs, for evaluation batches."""
        return TeacherCollator(self.task, self.tokenizer)

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        indices = [item["feature_index"] for item in batch]
        padded = self.pad([{k: v for k, v in item.items() if k != "feature_index"} for item in batch])
        if self.teacher is not None:
            rows = self.teacher.rows([self.features.example_ids[i] for i in indices])
            padded.update(self.task.teacher_targets(rows, self.features, indices, padded["input_ids"].shape[1]))
        return padded


class DistillationTrainer(Trainer):
    """A Trainer whose loss mixes gold CE with KD against the teacher outputs carried in the batch."""

    def __init__(self, *args: Any, task: Task, kd: KDSettings, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.task, self.kd = task, kd

    @contextlib.contextmanager
    def _evaluation_collator(self) -> Iterator[None]:
        """Evaluation batches carry no teacher outputs: validation loss is the student's CE on gold."""
        collator = self.data_collator
        self.data_collator = collator.without_teacher()
        try:
            yield
        finally:
            self.data_collator = collator

    def get_eval_dataloader(self, eval_dataset=None):
        with self._evaluation_collator():
            return super().get_eval_dataloader(eval_dataset)

    def get_test_dataloader(self, test_dataset):
        with self._evaluation_collator():
            return super().get_test_dataloader(test_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        targets = {k: inputs.pop(k) for k in TEACHER_KEYS if k in inputs}
        outputs = model(**inputs)
        loss = outputs.loss
        if targets:  # training batches carry the teacher; evaluation is the student's CE on gold
            pairs = self.task.kd_pairs(outputs, targets)
            kd = sum(kd_loss(s, t, self.kd.loss, self.kd.temperature) for s, t in pairs) / len(pairs)
            loss = self.kd.alpha * loss + (1 - self.kd.alpha) * kd
        return (loss, outputs) if return_outputs else loss
