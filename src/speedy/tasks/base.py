"""The interface of a task type: everything in which classification, token tasks and QA differ.

Task modules import torch, datasets and transformers inside the methods that use them: the workflow reads
the declarations (names, fields, metrics, settings) while it plans, and planning must stay fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa

from speedy.cache import ColumnSpec

if TYPE_CHECKING:
    import datasets

    from speedy.data import SplitReport
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

TeacherRow = dict[str, Any]
Outputs = dict[str, Sequence[np.ndarray]]  # model output field -> one array per feature (padded or not)
Record = dict[str, Any]  # a source record: internal field names, labels still as names or hub ints, and "where"
NO_WORD = -1


class RecordError(ValueError):
    """A source record that does not fit its task (unknown label, misplaced answer, ...); the message says where."""


@dataclass(frozen=True)
class TaskSettings:
    """How a task encodes inputs (lengths, windows) and decodes predictions (QA spans); config keys of the same names."""

    max_seq_length: int
    doc_stride: int = 128
    max_question_length: int = 64
    n_best: int = 20
    max_answer_length: int = 30


@dataclass
class Features:
    """Tokenized features of one split, with what maps them back to examples and words."""

    inputs: datasets.Dataset  # model inputs and labels, one row per feature
    example_ids: list[str]  # feature -> example id
    first_of_word: list[list[int]] = field(default_factory=list)  # per token: the word it is the first sub-token of
    last_of_word: list[list[int]] = field(default_factory=list)  # per token: the word it is the last sub-token of
    offsets: list[list[tuple[int, int] | None]] = field(default_factory=list)  # per token: context chars (QA)


def word_boundaries(token_words: Sequence[int | None]) -> tuple[list[int], list[int]]:
    """Per token, the word it starts (first sub-token) and the word it ends (last sub-token), else NO_WORD."""
    firsts = [NO_WORD] * len(token_words)
    lasts = [NO_WORD] * len(token_words)
    for pos, word in enumerate(token_words):
        if word is None:
            continue
        if pos == 0 or token_words[pos - 1] != word:
            firsts[pos] = word
        if pos == len(token_words) - 1 or token_words[pos + 1] != word:
            lasts[pos] = word
    return firsts, lasts


def label_id(value: Any, index: dict[str, int], where: str) -> int:
    """The id of a label given by name (looked up) or as an int id (range-checked)."""
    if isinstance(value, str):
        if value not in index:
            raise RecordError(f"{where}: unknown label {value!r}; expected one of {list(index)}")
        return index[value]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(index):
        return value
    raise RecordError(f"{where}: label {value!r} is not a label name nor an id below {len(index)}")


class Task:
    """A task type. Subclasses (one module each under speedy.tasks) fill in every class attribute and method."""

    name: ClassVar[str]  # the config's `datasets.*.task`
    auto_model: ClassVar[str]  # the transformers AutoModelFor... class
    pipeline_task: ClassVar[str]  # the transformers pipeline task of a published model
    fields: ClassVar[tuple[str, ...]]  # record fields a source must provide (hub `columns`, local formats)
    metrics: ClassVar[tuple[str, ...]]  # the speedy.metrics names that score this task
    needs_labels: ClassVar[bool] = True  # whether datasets of this task list `labels`
    reads: ClassVar[tuple[str, ...]] = ("max_seq_length",)  # the TaskSettings fields this task reads
    outputs: ClassVar[tuple[str, ...]]  # the model output fields that predictions and the teacher read
    schema: ClassVar[pa.Schema]  # the prepared Parquet schema
    paper_table: ClassVar[str | None] = None  # the paper's ablation table of this task type
    selected_by: ClassVar[str] = "validation loss"  # what the selection loss of a grid point is
    pre_split: ClassVar[bool] = False  # whether inputs are pre-split words (byte-level BPE then marks each word's start)

    def __init__(self, settings: TaskSettings, labels: Sequence[str]):
        self.settings = settings
        self.labels = list(labels)

    @classmethod
    def settings_problems(cls, settings: TaskSettings) -> list[str]:
        """What in the settings makes this task unable to run (checked while planning); empty when they fit."""
        return []

    def read_settings(self) -> dict[str, Any]:
        """The settings this task reads, by name (what its teacher cache depends on)."""
        return {name: getattr(self.settings, name) for name in self.reads}

    # ------------------------------------------------------------ preparing data
    @classmethod
    def to_prepared(cls, record: Record, index: dict[str, int], report: SplitReport) -> Record | None:
        """One source record as a row of the prepared schema (`index` maps label names to ids), or None to drop it.

        What it drops or adjusts, it counts per reason in `report`.
        """
        raise NotImplementedError

    # ------------------------------------------------------------ features and batches
    def featurize(self, examples: datasets.Dataset, tokenizer: PreTrainedTokenizerBase) -> Features:
        """Tokenize prepared examples into model features."""
        raise NotImplementedError

    def padding(self, tokenizer: PreTrainedTokenizerBase):
        """The dynamic-padding collator of this task's model inputs."""
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer)

    # ------------------------------------------------------------ the teacher
    def teacher_columns(self) -> list[ColumnSpec]:
        """The value columns of a teacher row, as the cache checks them."""
        raise NotImplementedError

    def word_counts(self, examples: datasets.Dataset) -> dict[str, int] | None:
        """Per example id, the number of words a teacher row covers (None where rows are not per word)."""
        return None

    def teacher_rows(self, outputs: Outputs, features: Features, examples: datasets.Dataset) -> list[TeacherRow]:
        """Per-example teacher outputs (what the cache stores), in example order."""
        raise NotImplementedError

    def teacher_targets(self, rows: list[TeacherRow], features: Features, indices: list[int], length: int) -> dict[str, torch.Tensor]:
        """Teacher outputs of a batch of features (`rows[b]` belongs to feature `indices[b]`), aligned to tokens."""
        raise NotImplementedError

    def kd_pairs(self, outputs: Any, targets: dict[str, torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(student, teacher) logit matrices [N, K] that the KD loss compares; -inf marks excluded entries."""
        raise NotImplementedError

    # ------------------------------------------------------------ predictions
    def predictions(self, outputs: Outputs, features: Features, examples: datasets.Dataset) -> list[Any]:
        """One prediction per example, in example order, in the form the metric takes."""
        raise NotImplementedError

    def references(self, examples: datasets.Dataset) -> list[Any]:
        """The gold answer of each example, in the form the metric takes."""
        raise NotImplementedError

    def selection_loss(self, outputs: Outputs, features: Features, examples: datasets.Dataset) -> float | None:
        """The validation loss that selects grid points and teachers, where the Trainer's loss does not compare."""
        return None

    # ------------------------------------------------------------ published models
    def save(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: str) -> None:
        """Save a trained model with its tokenizer (and whatever its pipeline needs)."""
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)

    def usage(self) -> str:
        """The Python lines of a model card that run a published model."""
        return f'from transformers import pipeline\n\npipe = pipeline("{self.pipeline_task}", model="<this folder>")'
