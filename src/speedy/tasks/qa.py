"""Extractive QA (MLQA, SQAC, TAR/XQuAD) over doc-stride windows; the teacher's outputs are per context word.

Context words are the matches of `CONTEXT_WORD`: runs of letters and digits, and each other visible
character alone (as BERT's basic tokenizer splits), so "Lima" is a word of "en Lima.". A word's start
logit is read at its first sub-token, its end logit at its last. A context word that the tokenizer turns
into no sub-token (a BOM, a zero-width space) has no logits: it is never a span boundary.

Merge rule (cache, selection loss): a word seen whole in several windows takes both logits from the
window where it has the most context, min(tokens to the window's left edge, tokens to its right edge),
ties going to the earlier window (BERT's max-context rule). Words never seen whole get NaN and are skipped.
Distillation: within each student window, the student's start (end) distribution over [CLS] and the
context tokens is matched to the teacher's distribution over the whole context, restricted to the
window's words, with the mass outside the window on [CLS] (where fine-tuning puts answers that the
window lacks). So a window without the answer learns to say so, and windows stay comparable.
"""

from __future__ import annotations

import bisect
import logging
import math
import re
import shutil
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from speedy.cache import WORDS, ColumnSpec
from speedy.tasks.base import NO_WORD, Features, Record, RecordError, Task, word_boundaries

if TYPE_CHECKING:
    from speedy.data import SplitReport

log = logging.getLogger(__name__)
CONTEXT_WORD = re.compile(r"\w+|[^\w\s]")
ANSWERS = pa.struct([("text", pa.list_(pa.string())), ("answer_start", pa.list_(pa.int64()))])


def log_softmax_skipping_nan(logits: Sequence[float]) -> np.ndarray:
    """Log-softmax over the finite entries of a vector; NaN entries (words without outputs) get -inf."""
    values = np.asarray(logits, dtype=np.float64)
    known = ~np.isnan(values)
    log_probs = np.full(len(values), -np.inf)
    if known.any():
        shifted = values[known] - values[known].max()
        log_probs[known] = shifted - np.log(np.exp(shifted).sum())
    return log_probs


def check_answers(record: Record) -> None:
    """Every gold answer must be non-empty and found at its answer_start (0 or more) in the context."""
    answers, context = record["answers"], record["context"]
    if not answers["text"] or len(answers["text"]) != len(answers["answer_start"]):
        raise RecordError(f"{record['where']}: needs one answer_start per answer text, and at least one answer")
    for text, start in zip(answers["text"], answers["answer_start"]):
        found = context[start : start + len(text)] if start >= 0 else None
        if not text or found != text:
            raise RecordError(f"{record['where']}: answer {text!r} is not at answer_start {start} (found {found!r})")


def snap_to_words(context: str, start: int, end: int) -> tuple[int, int] | None:
    """The span [start, end) of an answer in `context`, widened to whole context words (CONTEXT_WORD matches).

    The rule: an answer that starts or ends inside a context word is extended to that word's boundary, so that it
    covers every word it touches (answer "dos" in "forzados" becomes "forzados"); whitespace at its edges is
    trimmed. None when the span touches no word at all.
    """
    spans = [match.span() for match in CONTEXT_WORD.finditer(context)]
    first = bisect.bisect_right([word_end for _, word_end in spans], start)  # the first word ending after start
    last = bisect.bisect_left([word_start for word_start, _ in spans], end) - 1  # the last word starting before end
    if first > last:
        return None
    return spans[first][0], spans[last][1]


def clean_answers(record: Record, report: SplitReport) -> Record | None:
    """A question without its non-answers and with its answers snapped to words; None when no answer is left.

    An answer whose text is empty or whose answer_start is negative is not an answer (TAR marks answers it could not
    align so): it is removed. A question left without answers is dropped, as SQuAD v1.1 scoring cannot score it.
    Every other answer must be at its answer_start; it is then snapped to whole words (see `snap_to_words`).
    """
    answers, context = record["answers"], record["context"]
    if len(answers["text"]) != len(answers["answer_start"]):
        raise RecordError(f"{record['where']}: needs one answer_start per answer text")
    removed: Counter[str] = Counter()
    kept = []
    for text, start in zip(answers["text"], answers["answer_start"]):
        if isinstance(start, bool) or not isinstance(start, int):
            raise RecordError(f"{record['where']}: answer_start {start!r} is not an integer")
        if not text:
            removed["answer removed: empty text"] += 1
        elif start < 0:
            removed["answer removed: negative answer_start"] += 1
        else:
            kept.append((text, start))
    if not kept:
        report.dropped["question without a valid answer"] += 1
        return None
    check_answers({**record, "answers": {"text": [t for t, _ in kept], "answer_start": [s for _, s in kept]}})
    snapped = []
    for text, start in kept:
        span = snap_to_words(context, start, start + len(text))
        if span is None:
            removed["answer removed: no word in it"] += 1
            continue
        new_start, new_end = span
        removed.update(
            reason
            for reason, applies in [
                ("start inside a word, moved to the word's start", new_start < start),
                ("end inside a word, moved to the word's end", new_end > start + len(text)),
                ("whitespace trimmed", new_start > start or new_end < start + len(text)),
            ]
            if applies
        )
        snapped.append((context[new_start:new_end], new_start))
    if not snapped:
        report.dropped["question without a valid answer"] += 1
        return None
    report.adjusted.update(removed)
    return {**record, "answers": {"text": [t for t, _ in snapped], "answer_start": [s for _, s in snapped]}}


def answer_words(word_offsets: Sequence[int], words: Sequence[str], start: int, text: str) -> tuple[int, int]:
    """The context words where an answer starts and ends (the words holding its first and last character)."""
    first = max(w for w, offset in enumerate(word_offsets) if offset <= start)
    last_char = start + len(text) - 1
    last = max(w for w, offset in enumerate(word_offsets) if offset <= last_char)
    return first, last


class QuestionAnswering(Task):
    """One answer span per question and context."""

    name = "qa"
    auto_model = "AutoModelForQuestionAnswering"
    pipeline_task = "question-answering"
    fields = ("question", "context", "answers")
    metrics = ("squad",)
    needs_labels = False
    outputs = ("start_logits", "end_logits")
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("question", pa.string()),
            ("context", pa.string()),
            ("words", pa.list_(pa.string())),
            ("word_offsets", pa.list_(pa.int64())),
            ("answers", ANSWERS),
        ]
    )
    paper_table = "table7"
    reads = ("max_seq_length", "doc_stride", "max_question_length", "n_best", "max_answer_length")
    selected_by = "per-question cross-entropy of the gold start and end words"

    @classmethod
    def to_prepared(cls, record, index, report):
        record = clean_answers(record, report)
        if record is None:
            return None
        spans = list(CONTEXT_WORD.finditer(record["context"]))
        answers = record["answers"]
        return {
            "id": record["id"],
            "question": record["question"],
            "context": record["context"],
            "words": [m.group() for m in spans],
            "word_offsets": [m.start() for m in spans],
            "answers": {"text": list(answers["text"]), "answer_start": [int(s) for s in answers["answer_start"]]},
        }

    @classmethod
    def settings_problems(cls, settings):
        # qa_pipeline.window_room, which the shipped pipeline keeps standalone (that module is slow to import)
        room = settings.max_seq_length - settings.max_question_length - 4 - settings.doc_stride
        if room > 0:
            return []
        return [
            f"max_seq_length {settings.max_seq_length}, doc_stride {settings.doc_stride} and qa.max_question_length "
            f"{settings.max_question_length} leave no context in a QA window: max_seq_length must exceed "
            f"doc_stride + max_question_length + 4 special tokens"
        ]

    def featurize(self, examples, tokenizer):
        import datasets

        from speedy import qa_pipeline

        s = self.settings
        encoded, cut = qa_pipeline.encode_windows(
            tokenizer, list(examples["question"]), list(examples["context"]), s.max_seq_length, s.doc_stride,
            s.max_question_length,
        )  # fmt: skip
        if cut:
            log.info("%d of %d questions cut to max_question_length %d tokens", cut, len(examples), s.max_question_length)
        offsets = [qa_pipeline.context_offsets(encoded, window) for window in range(len(encoded["input_ids"]))]
        sample_map = encoded.pop("overflow_to_sample_mapping")
        encoded.pop("offset_mapping")
        char_words = [self._char_to_word(ex["context"], ex["word_offsets"], ex["words"]) for ex in examples]
        ids, answers = list(examples["id"]), list(examples["answers"]) if "answers" in examples.column_names else None
        features = Features(inputs=None, example_ids=[ids[e] for e in sample_map], offsets=offsets)  # type: ignore[arg-type]
        start_positions, end_positions = [], []
        for window, context_offsets in enumerate(offsets):
            example = sample_map[window]
            firsts, lasts = word_boundaries([self._token_word(o, char_words[example]) for o in context_offsets])
            features.first_of_word.append(firsts)
            features.last_of_word.append(lasts)
            start, end = self._answer_positions(context_offsets, answers[example]) if answers else (0, 0)
            start_positions.append(start)
            end_positions.append(end)
        features.inputs = datasets.Dataset.from_dict(
            {**{k: encoded[k] for k in encoded.keys()}, "start_positions": start_positions, "end_positions": end_positions}
        )
        return features

    @staticmethod
    def _char_to_word(context: str, word_offsets: list[int], words: list[str]) -> np.ndarray:
        char_words = np.full(len(context), NO_WORD, dtype=np.int64)
        for w, (start, word) in enumerate(zip(word_offsets, words)):
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

    def teacher_columns(self):
        return [ColumnSpec(f"{name}_logits", (WORDS,), allow_nan=True) for name in ("start", "end")]

    def word_counts(self, examples):
        return {example_id: len(words) for example_id, words in zip(examples["id"], examples["words"])}

    def teacher_rows(self, outputs, features, examples):
        words, word_offsets = list(examples["words"]), list(examples["word_offsets"])
        rows = [{"start_logits": [math.nan] * len(w), "end_logits": [math.nan] * len(w)} for w in words]
        context_score = [[-1] * len(w) for w in words]
        index = {example_id: i for i, example_id in enumerate(examples["id"])}
        for f, example_id in enumerate(features.example_ids):
            e = index[example_id]
            firsts, lasts, offsets = features.first_of_word[f], features.last_of_word[f], features.offsets[f]
            context = [p for p, o in enumerate(offsets) if o is not None]
            first, last = context[0], context[-1]
            end_of = {w: p for p, w in enumerate(lasts) if w != NO_WORD}
            for pos, word in enumerate(firsts):
                if word == NO_WORD or word not in end_of:
                    continue
                if pos == first and offsets[pos][0] > word_offsets[e][word]:
                    continue  # the window starts inside this word
                if end_of[word] == last and offsets[last][1] < word_offsets[e][word] + len(words[e][word]):
                    continue  # the window ends inside this word
                score = min(pos - first, last - end_of[word])
                if score > context_score[e][word]:
                    context_score[e][word] = score
                    rows[e]["start_logits"][word] = float(outputs["start_logits"][f][pos])
                    rows[e]["end_logits"][word] = float(outputs["end_logits"][f][end_of[word]])
        return rows

    def teacher_targets(self, rows, features, indices, length):
        """Per student window: the teacher's start (end) log-probabilities over the whole context, at each word's
        first (last) sub-token, and on position 0 ([CLS]) the log-probability that it lies outside the window."""
        import torch

        targets = {name: torch.full((len(indices), length), -math.inf) for name in ("start", "end")}
        span = torch.zeros(len(indices), length, dtype=torch.bool)
        for b, (i, row) in enumerate(zip(indices, rows)):
            span[b, 0] = True
            for pos, offset in enumerate(features.offsets[i]):
                if offset is not None:
                    span[b, pos] = True
            for name, boundaries in (("start", features.first_of_word[i]), ("end", features.last_of_word[i])):
                word_log_probs = log_softmax_skipping_nan(row[f"{name}_logits"])
                inside = 0.0
                for pos, word in enumerate(boundaries):
                    if word != NO_WORD and math.isfinite(word_log_probs[word]):
                        targets[name][b, pos] = word_log_probs[word]
                        inside += math.exp(word_log_probs[word])
                if inside < 1 - 1e-6:
                    targets[name][b, 0] = math.log1p(-inside)
        return {**targets, "span": span}

    def kd_pairs(self, outputs, targets):
        """Start and end distributions per window over [CLS] and the context tokens (the rest masked out)."""
        import torch

        pairs = []
        for student, teacher in ((outputs.start_logits, targets["start"]), (outputs.end_logits, targets["end"])):
            visible = torch.isfinite(teacher).any(-1)
            student = student.masked_fill(~targets["span"], -math.inf)
            pairs.append((student[visible], teacher[visible]))
        return pairs

    def predictions(self, outputs, features, examples):
        """The best span per question over its windows, as in HF utils_qa (SQuAD v1.1: no null answer)."""
        from speedy import qa_pipeline

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

    def selection_loss(self, outputs, features, examples) -> float:
        """Mean over questions of the cross-entropy of the gold start and end words, over the merged word logits.

        It does not depend on how a tokenizer cuts windows, so candidates with different tokenizers compare.
        """
        losses = []
        for row, example in zip(self.teacher_rows(outputs, features, examples), examples):
            answer = example["answers"]
            first, last = answer_words(example["word_offsets"], example["words"], answer["answer_start"][0], answer["text"][0])
            start, end = log_softmax_skipping_nan(row["start_logits"])[first], log_softmax_skipping_nan(row["end_logits"])[last]
            if math.isfinite(start + end):  # a gold word no window holds whole has no logits to score
                losses.append(-(start + end) / 2)
        return float(np.mean(losses)) if losses else math.inf

    def save(self, model, tokenizer, out_dir):
        """Save the model with its question-answering pipeline (the code, and config.json's entry and settings)."""
        from speedy import qa_pipeline

        s = self.settings
        model.config.custom_pipelines = {qa_pipeline.REMOTE_TASK: qa_pipeline.CUSTOM_PIPELINE}
        model.config.task_specific_params = {
            qa_pipeline.TASK: qa_pipeline.pipeline_settings(
                s.max_seq_length, s.doc_stride, s.max_question_length, s.n_best, s.max_answer_length
            )
        }
        super().save(model, tokenizer, out_dir)
        shutil.copy(qa_pipeline.__file__, out_dir)

    def usage(self):
        return (
            "import speedy  # registers the question-answering pipeline with transformers\n"
            "from transformers import pipeline\n\n"
            f'qa = pipeline("{self.pipeline_task}", model="<this folder>")\n'
            'qa(question="¿Dónde nació Ana?", context="Ana nació en Lima.")\n\n'
            "# without the speedy package: the same pipeline, from this folder's qa_pipeline.py\n"
            'qa = pipeline("speedy-question-answering", model="<this folder>", trust_remote_code=True)'
        )
