"""How features become batches: length-grouped training batches, length-sorted inference, and micro-batches that
add up to the whole batch."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import datasets
import numpy as np
import pyarrow.compute as pc
import torch
from transformers import Trainer


def feature_lengths(inputs: datasets.Dataset) -> np.ndarray:
    """Tokens per feature (read from the Arrow column, without building Python lists)."""
    return pc.list_value_length(inputs.with_format("arrow")["input_ids"]).to_numpy()


def length_order(inputs: datasets.Dataset) -> np.ndarray:
    """Feature indices, longest first (ties in feature order): consecutive features pad to similar lengths."""
    return np.argsort(-feature_lengths(inputs), kind="stable")


def micro_batches(batch_size: int, most: int | None) -> tuple[int, int]:
    """(examples per micro-batch, micro-batches per optimizer step) for a batch run in micro-batches of at most `most`
    examples: the largest divisor of the batch that fits, so the optimizer step still sees the whole batch."""
    if most is None or most >= batch_size:
        return batch_size, 1
    if most < 1:
        raise ValueError(f"micro_batch {most}: needs at least 1 example per micro-batch")
    size = max(d for d in range(1, most + 1) if batch_size % d == 0)
    return size, batch_size // size


class LengthGroupedSampler(torch.utils.data.Sampler[int]):
    """Batches of similar lengths, in random order: each epoch shuffles the features, sorts each window of `window`
    batches by length, cuts it into batches and shuffles the batches (a smaller last batch stays last). It draws from
    torch's global RNG, as the Trainer's random sampler does, so a resumed run draws the same batches."""

    def __init__(self, lengths: Sequence[int], batch_size: int, window: int = 50):
        self.lengths, self.batch_size, self.window = list(lengths), batch_size, window

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        shuffled, span = torch.randperm(len(self.lengths)).tolist(), self.window * self.batch_size
        batches = []
        for start in range(0, len(shuffled), span):
            group = sorted(shuffled[start : start + span], key=self.lengths.__getitem__)
            batches += [group[i : i + self.batch_size] for i in range(0, len(group), self.batch_size)]
        last = [batches.pop()] if batches and len(batches[-1]) < self.batch_size else []
        order = torch.randperm(len(batches)).tolist()
        return iter([i for batch in [*(batches[k] for k in order), *last] for i in batch])


def batch_items(batch: dict[str, Any]) -> int:
    """What a batch's mean loss averages over: its labelled positions (-100 marks none; one per row for row labels),
    else its rows (QA's start and end positions)."""
    if "labels" in batch:
        return int(batch["labels"].ne(-100).sum())
    return int(batch["input_ids"].shape[0])


class BatchTrainer(Trainer):
    """A Trainer whose training batches may be grouped by length and whose micro-batches add up to the whole batch.

    Grouping: `LengthGroupedSampler` over whole (effective) batches, so micro-batches are grouped too.
    Accumulation: each micro-batch's mean loss is weighted by its share of the optimizer step's items
    (`batch_items`), so the accumulated gradient is that of the whole batch's mean loss. (The Trainer's own
    `num_items_in_batch` reaches the models of this workflow, which ignore it: their per-micro-batch means would
    be summed, not averaged.)
    """

    loss_is_scaled_for_ga = True

    def __init__(self, *args: Any, group_by_length: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.group_by_length = group_by_length

    def _get_train_sampler(self, train_dataset=None):
        dataset = self.train_dataset if train_dataset is None else train_dataset
        if not self.group_by_length:
            return super()._get_train_sampler(dataset)
        batch = self.args.train_batch_size * self.args.gradient_accumulation_steps
        return LengthGroupedSampler(feature_lengths(dataset).tolist(), batch)

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        batches = list(itertools.islice(epoch_iterator, num_batches))
        return batches, sum(batch_items(batch) for batch in batches)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        share = batch_items(inputs) / num_items_in_batch if num_items_in_batch else 1.0
        loss, outputs = self.batch_loss(model, inputs)
        return (loss * share, outputs) if return_outputs else loss * share

    def batch_loss(self, model, inputs: dict[str, Any]) -> tuple[Any, Any]:
        """The mean loss of one batch, and the model's outputs."""
        outputs = model(**inputs)
        return outputs.loss, outputs
