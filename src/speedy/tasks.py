"""Task adaptors: the only place where classification, token classification and extractive QA differ.

Each adaptor turns prepared examples into model features (keeping the per-word alignment that lets
teacher and student use different tokenizers), reads model outputs back per example or per word,
builds the teacher targets a student is distilled on, and post-processes predictions for the metric.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import datasets
import numpy as np
import torch
from transformers import DataCollatorForTokenClassification, DataCollatorWithPadding, PreTrainedTokenizerBase, Trainer

from speedy import qa_pipeline

TeacherRow = dict[str, Any]
NO_WORD = -1


@dataclass
class Features:
    """Tokenized features of one split, with what maps them back to examples and words."""

    inputs: datasets.Dataset  # model inputs, labels and `feature_index`
    example_ids: list[str]  # feature -> example id
    word_starts: list[list[int]] = field(default_factory=list)  # per token: word whose first sub-token it is
    word_ends: list[list[int]] = field(default_factory=list)  # per token: word whose last sub-token it is (QA)
    offsets: list[list[tuple[int, int] | None]] = field(default_factory=list)  # per token: context chars (QA)


@dataclass(frozen=True)
class TaskSettings:
    """Sequence lengths and QA post-processing settings, from the config."""

    max_seq_length: int
    doc_stride: int = 128
    n_best: int = 20
    max_answer_length: int = 30

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TaskSettings:
        """Settings from the workflow config."""
        return cls(max_seq_length=config["max_seq_length"], **config["qa"])


def _log_softmax_skipping_nan(logits: Sequence[float]) -> np.ndarray:
    """Log-softmax over the finite entries of a vector; NaN entries (words without outputs) get -inf."""
    values = np.asarray(logits, dtype=np.float64)
    known = ~np.isnan(values)
    log_probs = np.full(len(values), -np.inf)
    if known.any():
        shifted = values[known] - values[known].max()
        log_probs[known] = shifted - np.log(np.exp(shifted).sum())
    return log_probs


def _boundary_positions(token_words: Sequence[int | None]) -> tuple[list[int], list[int]]:
    """Per token, the word it starts (first sub-token) and the word it ends (last sub-token), else NO_WORD."""
    starts = [NO_WORD] * len(token_words)
    ends = [NO_WORD] * len(token_words)
    for pos, word in enumerate(token_words):
        if word is None:
            continue
        if pos == 0 or token_words[pos - 1] != word:
            starts[pos] = word
        if pos == len(token_words) - 1 or token_words[pos + 1] != word:
            ends[pos] = word
    return starts, ends


class Task:
    """Interface shared by the three task types."""

    name: str
    model_task: str

    def __init__(self, settings: TaskSettings, labels: list[str]):
        self.settings = settings
        self.labels = labels

    def featurize(self, examples: datasets.Dataset, tokenizer: PreTrainedTokenizerBase) -> Features:
        """Tokenize examples into features."""
        raise NotImplementedError

    def base_collator(self, tokenizer: PreTrainedTokenizerBase):
        """The dynamic-padding collator for this task's model inputs."""
        return DataCollatorWithPadding(tokenizer)

    def teacher_rows(self, outputs: dict[str, np.ndarray], features: Features, examples: datasets.Dataset) -> list[TeacherRow]:
        """Per-example teacher outputs (what the cache stores), in example order."""
        raise NotImplementedError

    def teacher_targets(self, rows: list[TeacherRow], features: Features, indices: list[int], length: int) -> dict[str, torch.Tensor]:
        """Teacher outputs of a batch of features (`rows[b]` belongs to feature `indices[b]`), aligned to tokens."""
        raise NotImplementedError

    def kd_pairs(self, outputs: Any, targets: dict[str, torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(student, teacher) logit matrices [N, K] that the KD loss compares; -inf marks excluded entries."""
        raise NotImplementedError

    def predictions(self, outputs: dict[str, np.ndarray], features: Features, examples: datasets.Dataset) -> list[Any]:
        """One prediction per example, in example order."""
        raise NotImplementedError

    def references(self, examples: datasets.Dataset) -> list[Any]:
        """The gold answers of each example, in the form the metric takes."""
        raise NotImplementedError

    def metric_inputs(self, predictions: list[Any], examples: datasets.Dataset) -> tuple[Any, Any]:
        """(predictions, references) as `speedy.metrics.compute` takes them."""
        return predictions, self.references(examples)

    def save(self, trainer: Trainer, out_dir: str) -> None:
        """Save the trained model and its tokenizer."""
        trainer.save_model(out_dir)


class Classification(Task):
    """Single-text and text-pair classification: one logit vector per example."""

    name = model_task = "classification"

    def featurize(self, examples, tokenizer):
        pair = "text_pair" in examples.column_names

        def encode(batch):
            encoded = tokenizer(
                batch["text"], batch["text_pair"] if pair else None,
                truncation=True, max_length=self.settings.max_seq_length,
            )
            encoded["labels"] = batch["label"]
            return encoded

        inputs = examples.map(encode, batched=True, remove_columns=examples.column_names)
        inputs = inputs.add_column("feature_index", list(range(len(inputs))))
        return Features(inputs=inputs, example_ids=list(examples["id"]))

    def teacher_rows(self, outputs, features, examples):
        return [{"logits": logits.tolist()} for logits in outputs["logits"]]

    def teacher_targets(self, rows, features, indices, length):
        return {"teacher_logits": torch.tensor([row["logits"] for row in rows], dtype=torch.float32)}

    def kd_pairs(self, outputs, targets):
        return [(outputs.logits, targets["teacher_logits"])]

    def predictions(self, outputs, features, examples):
        return outputs["logits"].argmax(-1).tolist()

    def references(self, examples):
        return list(examples["label"])


class TokenClassification(Task):
    """POS and NER: the first sub-token of each word carries the word's label and outputs."""

    name = model_task = "token"

    def featurize(self, examples, tokenizer):
        encoded = tokenizer(
            list(examples["words"]), is_split_into_words=True, truncation=True, max_length=self.settings.max_seq_length,
        )
        starts, labels = [], []
        for i, tags in enumerate(examples["tags"]):
            word_starts, _ = _boundary_positions(encoded.word_ids(i))
            starts.append(word_starts)
            labels.append([tags[w] if w != NO_WORD else -100 for w in word_starts])
        inputs = datasets.Dataset.from_dict(
            {**{k: encoded[k] for k in encoded.keys()}, "labels": labels, "feature_index": list(range(len(labels)))}
        )
        return Features(inputs=inputs, example_ids=list(examples["id"]), word_starts=starts)

    def base_collator(self, tokenizer):
        return DataCollatorForTokenClassification(tokenizer)

    def _per_word(self, logits: np.ndarray, starts: list[int]) -> np.ndarray:
        positions = [p for p, w in enumerate(starts) if w != NO_WORD]
        return logits[positions]

    def teacher_rows(self, outputs, features, examples):
        return [
            {"logits": self._per_word(outputs["logits"][i], features.word_starts[i]).tolist()}
            for i in range(len(features.example_ids))
        ]

    def teacher_targets(self, rows, features, indices, length):
        num_labels = len(self.labels)
        logits = torch.zeros(len(indices), length, num_labels)
        mask = torch.zeros(len(indices), length, dtype=torch.bool)
        for b, (i, row) in enumerate(zip(indices, rows)):
            word_logits = row["logits"]
            for pos, word in enumerate(features.word_starts[i]):
                if word != NO_WORD and word < len(word_logits):
                    logits[b, pos] = torch.tensor(word_logits[word])
                    mask[b, pos] = True
        return {"teacher_logits": logits, "teacher_mask": mask}

    def kd_pairs(self, outputs, targets):
        mask = targets["teacher_mask"]
        return [(outputs.logits[mask], targets["teacher_logits"][mask])]

    def predictions(self, outputs, features, examples):
        return [
            [self.labels[k] for k in self._per_word(outputs["logits"][i], features.word_starts[i]).argmax(-1)]
            for i in range(len(features.example_ids))
        ]

    def references(self, examples):
        return [[self.labels[t] for t in tags] for tags in examples["tags"]]


class QuestionAnswering(Task):
    """Extractive QA over doc-stride windows; teacher outputs are start and end logits per context word.

    Alignment: a word's start logit is read at its first sub-token, its end logit at its last sub-token.
    Merge rule for the cache: a word seen whole in several windows takes both logits from the window where
    it has the most context, min(tokens to the window's left edge, tokens to its right edge), ties going to
    the earlier window (BERT's max-context rule). Words never seen whole in any window get NaN and are skipped.
    Distillation: within each student window, the student's start (end) distribution over [CLS] and the
    context tokens is matched to the teacher's distribution over the whole context, restricted to the
    window's words, with the mass outside the window on [CLS] (where fine-tuning puts answers that the
    window lacks). So a window without the answer learns to say so, and windows stay comparable.
    """

    name = model_task = "qa"

    def featurize(self, examples, tokenizer):
        s = self.settings
        encoded = qa_pipeline.encode_windows(
            tokenizer, list(examples["question"]), list(examples["context"]), s.max_seq_length, s.doc_stride
        )
        offsets = [qa_pipeline.context_offsets(encoded, window) for window in range(len(encoded["input_ids"]))]
        sample_map = encoded.pop("overflow_to_sample_mapping")
        encoded.pop("offset_mapping")
        char_words = [self._char_to_word(ex["context"], ex["word_starts"], ex["words"]) for ex in examples]
        ids, answers = list(examples["id"]), list(examples["answers"])
        features = Features(inputs=None, example_ids=[])  # type: ignore[arg-type]
        start_positions, end_positions = [], []
        for i, context_offsets in enumerate(offsets):
            example = sample_map[i]
            token_words = [self._token_word(o, char_words[example]) for o in context_offsets]
            starts, ends = _boundary_positions(token_words)
            features.example_ids.append(ids[example])
            features.offsets.append(context_offsets)
            features.word_starts.append(starts)
            features.word_ends.append(ends)
            start, end = self._answer_positions(context_offsets, answers[example])
            start_positions.append(start)
            end_positions.append(end)
        features.inputs = datasets.Dataset.from_dict(
            {
                **{k: encoded[k] for k in encoded.keys()},
                "start_positions": start_positions,
                "end_positions": end_positions,
                "feature_index": list(range(len(start_positions))),
            }
        )
        return features

    @staticmethod
    def _char_to_word(context: str, word_starts: list[int], words: list[str]) -> np.ndarray:
        char_words = np.full(len(context), NO_WORD, dtype=np.int64)
        for w, (start, word) in enumerate(zip(word_starts, words)):
            char_words[start : start + len(word)] = w
        return char_words

    @staticmethod
    def _token_word(offset: tuple[int, int] | None, char_words: np.ndarray) -> int | None:
        if offset is None or offset[1] <= offset[0]:
            return None
        words = char_words[offset[0] : offset[1]]
        words = words[words != NO_WORD]
        return int(words[0]) if len(words) else None

    @staticmethod
    def _answer_positions(offsets: list[tuple[int, int] | None], answer: dict[str, list]) -> tuple[int, int]:
        """Token positions of the first gold answer in this window, or (0, 0) when it is not inside."""
        start_char = answer["answer_start"][0]
        end_char = start_char + len(answer["text"][0])
        context = [p for p, o in enumerate(offsets) if o is not None]
        if not context or offsets[context[0]][0] > start_char or offsets[context[-1]][1] < end_char:
            return 0, 0
        start = next(p for p in context if offsets[p][1] > start_char)
        end = next(p for p in reversed(context) if offsets[p][0] < end_char)
        return start, end

    def teacher_rows(self, outputs, features, examples):
        words, word_starts = list(examples["words"]), list(examples["word_starts"])
        rows = [
            {"start_logits": [math.nan] * len(w), "end_logits": [math.nan] * len(w), "_context": [-1] * len(w)}
            for w in words
        ]
        index = {example_id: i for i, example_id in enumerate(examples["id"])}
        for f, example_id in enumerate(features.example_ids):
            e = index[example_id]
            row = rows[e]
            starts, ends = features.word_starts[f], features.word_ends[f]
            context = [p for p, o in enumerate(features.offsets[f]) if o is not None]
            first, last = context[0], context[-1]
            end_of = {w: p for p, w in enumerate(ends) if w != NO_WORD}
            for pos, word in enumerate(starts):
                if word == NO_WORD or word not in end_of:
                    continue
                if pos == first and features.offsets[f][pos][0] > word_starts[e][word]:
                    continue  # the window starts inside this word
                if end_of[word] == last and features.offsets[f][last][1] < word_starts[e][word] + len(words[e][word]):
                    continue  # the window ends inside this word
                score = min(pos - first, last - end_of[word])
                if score > row["_context"][word]:
                    row["_context"][word] = score
                    row["start_logits"][word] = float(outputs["start_logits"][f][pos])
                    row["end_logits"][word] = float(outputs["end_logits"][f][end_of[word]])
        for row in rows:
            del row["_context"]
        return rows

    def teacher_targets(self, rows, features, indices, length):
        """Per student window: the teacher's start (end) log-probabilities over the whole context, at each word's
        first (last) sub-token, and on position 0 ([CLS]) the log-probability that it lies outside the window."""
        targets = {name: torch.full((len(indices), length), -math.inf) for name in ("teacher_start", "teacher_end")}
        span = torch.zeros(len(indices), length, dtype=torch.bool)
        for b, (i, row) in enumerate(zip(indices, rows)):
            span[b, 0] = True
            for pos, offset in enumerate(features.offsets[i]):
                if offset is not None:
                    span[b, pos] = True
            for name, key, boundaries in (
                ("teacher_start", "start_logits", features.word_starts[i]),
                ("teacher_end", "end_logits", features.word_ends[i]),
            ):
                word_log_probs = _log_softmax_skipping_nan(row[key])
                inside = 0.0
                for pos, word in enumerate(boundaries):
                    if word != NO_WORD and math.isfinite(word_log_probs[word]):
                        targets[name][b, pos] = word_log_probs[word]
                        inside += math.exp(word_log_probs[word])
                if inside < 1 - 1e-6:
                    targets[name][b, 0] = math.log1p(-inside)
        return {**targets, "span_mask": span}

    def kd_pairs(self, outputs, targets):
        """Start and end distributions per window over [CLS] and the context tokens (the rest masked out)."""
        span = targets["span_mask"]
        pairs = []
        for student, teacher in ((outputs.start_logits, targets["teacher_start"]), (outputs.end_logits, targets["teacher_end"])):
            visible = torch.isfinite(teacher).any(-1)
            student = student.masked_fill(~span, -math.inf)
            pairs.append((student[visible], teacher[visible]))
        return pairs

    def predictions(self, outputs, features, examples):
        """The best span per question over its windows, as in HF utils_qa (SQuAD v1.1: no null answer)."""
        s = self.settings
        by_example: dict[str, list[int]] = {}
        for f, example_id in enumerate(features.example_ids):
            by_example.setdefault(example_id, []).append(f)
        answers = []
        for example_id, context in zip(examples["id"], examples["context"]):
            spans = [
                qa_pipeline.best_span(outputs["start_logits"][f], outputs["end_logits"][f], features.offsets[f], s.n_best, s.max_answer_length)
                for f in by_example.get(example_id, [])
            ]
            spans = [span for span in spans if span is not None]
            _, start, end = max(spans, key=lambda span: span[0]) if spans else (None, 0, 0)
            answers.append(context[start:end])
        return answers

    def references(self, examples):
        return [list(answer["text"]) for answer in examples["answers"]]

    def metric_inputs(self, predictions, examples):
        ids = list(examples["id"])
        return dict(zip(ids, predictions)), dict(zip(ids, self.references(examples)))

    def save(self, trainer, out_dir):
        """Save the model with its question-answering pipeline (the code, and config.json's entry and settings)."""
        s = self.settings
        trainer.model.config.custom_pipelines = {qa_pipeline.TASK: qa_pipeline.CUSTOM_PIPELINE}
        trainer.model.config.task_specific_params = {
            qa_pipeline.TASK: qa_pipeline.pipeline_settings(s.max_seq_length, s.doc_stride, s.n_best, s.max_answer_length)
        }
        super().save(trainer, out_dir)
        shutil.copy(qa_pipeline.__file__, out_dir)


TASKS: dict[str, type[Task]] = {"classification": Classification, "token": TokenClassification, "qa": QuestionAnswering}


def make_task(task: str, settings: TaskSettings, labels: list[str]) -> Task:
    """The adaptor of a task type."""
    return TASKS[task](settings, labels)
