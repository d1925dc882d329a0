"""Knowledge distillation: the loss, where teacher outputs come from (cache or live), several teachers'
outputs combined into one, batches and the Trainer.

The distiller never names a task: the task adaptor turns teacher rows into targets for a batch, and pairs
them with the student's outputs; here they travel in the batch under one key, `teacher`.

Several teachers (`combine_rows`). Every value column of a teacher row holds logits whose last axis is one
distribution: classification [K], token tasks [words, K], QA [words] (start or end over the context's
words). Teacher i with weight w_i (Σ w_i = 1) and logits z_i gives p_i = softmax(z_i / T) over its known
entries; a NaN entry (a QA word the teacher never saw whole) is one it does not know.
- The combined distribution is the weighted mean of the teachers' probabilities at temperature T,
      q_j = Σ_{i knows j} w_i p_ij / Σ_{i knows j} w_i,        p̄ = q / Σ_j q_j.
  A teacher abstains on an entry it lacks: that entry is the mean over the teachers that have it, and the
  vector is renormalised. An entry that no teacher (of weight > 0) has stays NaN, as in one teacher's row.
  With every entry known, p̄ is the plain weighted mean (q sums to 1).
- The combined row is r = T · (log p̄ + c), c = Σ_i w_i logsumexp_j(z_ij / T) over the teachers that know
  some entry (weights renormalised). The KD loss divides by T again: softmax(r / T) = softmax(log p̄ + c)
  = p̄, since a constant shift leaves a softmax unchanged and p̄ sums to 1. So the student is matched to
  p̄ at temperature T exactly, and the T² factor of the loss applies as for one teacher. The shift c puts
  r on the teachers' logit scale: k copies of one teacher combine into that teacher's row, which keeps
  MSE (not shift-invariant) comparable. QA targets take log_softmax of the row (a shift, so p̄ again).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from speedy.batches import BatchTrainer
from speedy.cache import ColumnSpec
from speedy.tasks import Features, Task, TeacherRow

TEACHER = "teacher"  # the batch key of the teacher targets
TEACHER_WEIGHTS = ("equal", "loss")  # how several teachers are weighted (config `distillation.teacher_weights`)
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


def teacher_weights(selection_losses: Sequence[float], rule: str) -> np.ndarray:
    """Each teacher's weight: `equal` (1/k), or `loss`, w_i ∝ exp(-L_i) with L_i its selection loss.

    A selection loss is a mean cross-entropy of the gold answer on validation, so exp(-L_i) is the geometric
    mean probability that teacher gives the gold answer; a teacher whose loss is infinite gets weight 0.
    """
    losses = np.asarray(selection_losses, dtype=np.float64)
    if losses.ndim != 1 or losses.size == 0 or np.isnan(losses).any():
        raise ValueError(f"teacher weights need one selection loss per teacher, got {list(selection_losses)}")
    if rule == "equal":
        return np.full(losses.size, 1.0 / losses.size)
    if rule != "loss":
        raise ValueError(f"unknown teacher weighting {rule!r}; expected one of {list(TEACHER_WEIGHTS)}")
    if not np.isfinite(losses).any():
        raise ValueError(f"teacher weights by loss: no teacher has a finite selection loss ({list(selection_losses)})")
    scores = np.exp(-(losses - losses[np.isfinite(losses)].min()))
    return scores / scores.sum()


def combine_logits(logits: np.ndarray, weights: np.ndarray, temperature: float) -> np.ndarray:
    """The teachers' logits [k, ..., n] combined along the last axis into one row [..., n] (see the module doc)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    w = np.asarray(weights, dtype=np.float64).reshape((-1,) + (1,) * (z.ndim - 1))
    known = ~np.isnan(z)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(known, z, -np.inf)
        lse = np.logaddexp.reduce(z, axis=-1, keepdims=True)  # [k, ..., 1]; -inf for a teacher that knows nothing
        log_p = np.where(known, z - lse, -np.inf)
        votes = (w * known).sum(axis=0)  # per entry, the weight of the teachers that have it
        has = votes > 0
        log_q = np.where(has, np.logaddexp.reduce(np.log(w) + log_p, axis=0) - np.log(votes), -np.inf)
        log_mean = log_q - np.logaddexp.reduce(log_q, axis=-1, keepdims=True)
        vocal = w * np.isfinite(lse)  # the teachers that know some entry of this distribution
        shift = (vocal * np.where(np.isfinite(lse), lse, 0.0)).sum(axis=0) / vocal.sum(axis=0)
    return np.where(has, temperature * (log_mean + shift), np.nan)


def combine_rows(rows: Sequence[TeacherRow], columns: Sequence[ColumnSpec], weights: np.ndarray, temperature: float) -> TeacherRow:
    """One example's rows from k teachers combined column by column (every column's last axis is a distribution)."""
    if len(rows) != len(weights):
        raise ValueError(f"{len(rows)} teacher rows for {len(weights)} weights")
    return {
        spec.name: combine_logits(np.stack([np.asarray(row[spec.name], dtype=np.float64) for row in rows]), weights, temperature).tolist()
        for spec in columns
    }


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
