"""Token classification (POS on UD AnCora, NER on CoNLL-2002): one label per word, on its first sub-token.

Words, not tokens, are the unit. A word that the tokenizer turns into no sub-token (a BOM, a zero-width
space, a lone combining mark) is encoded as the unknown token, so every word has exactly one first
sub-token. A sentence longer than `max_seq_length` is cut into windows of whole words that overlap by up
to `doc_stride` tokens. Each word is read in one window, its home: the window where it has the most words
on both sides (ties: the earlier one). Its label, its teacher outputs and its prediction sit on its first
sub-token there, so every word gets exactly one prediction and counts once in the loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from speedy.cache import WORDS, ColumnSpec
from speedy.tasks.base import NO_WORD, Features, RecordError, Task, label_id

IGNORED = -100  # the label of tokens that carry no word's label


def word_windows(pieces: Sequence[int], budget: int, overlap: int) -> list[tuple[int, int]]:
    """Word ranges [a, b) whose pieces fit in `budget` tokens; each next range starts on the last words of the
    previous one that fit in `overlap` tokens. A word longer than the budget gets a range of its own."""
    windows, start = [], 0
    while True:
        end, used = start, 0
        while end < len(pieces) and (end == start or used + pieces[end] <= budget):
            used += pieces[end]
            end += 1
        windows.append((start, end))
        if end == len(pieces):
            return windows
        start, kept = end, 0
        while start - 1 > windows[-1][0] and kept + pieces[start - 1] <= overlap:
            start -= 1
            kept += pieces[start]


def home_windows(windows: list[tuple[int, int]], num_words: int) -> list[int]:
    """Per word, the window where it has the most words on both sides (ties: the earlier window)."""
    home, score = [0] * num_words, [-1] * num_words
    for w, (start, end) in enumerate(windows):
        for word in range(start, end):
            if min(word - start, end - 1 - word) > score[word]:
                home[word], score[word] = w, min(word - start, end - 1 - word)
    return home


class TokenClassification(Task):
    """One label per word."""

    name = "token"
    auto_model = "AutoModelForTokenClassification"
    pipeline_task = "token-classification"
    fields = ("words", "tags")
    metrics = ("pos_f1", "ner_f1")
    outputs = ("logits",)
    schema = pa.schema([("id", pa.string()), ("words", pa.list_(pa.string())), ("tags", pa.list_(pa.int64()))])
    paper_table = "table6"
    pre_split = True
    reads = ("max_seq_length", "doc_stride")

    @classmethod
    def to_prepared(cls, record, index, report):
        words, tags = record["words"], record["tags"]
        if len(words) != len(tags):
            raise RecordError(f"{record['where']}: {len(words)} words but {len(tags)} tags")
        places = record.get("tag_where") or [record["where"]] * len(tags)
        return {"id": record["id"], "words": list(words), "tags": [label_id(t, index, at) for t, at in zip(tags, places)]}

    def featurize(self, examples, tokenizer):
        import datasets

        from speedy.models import encodable_words

        sentences, pieces = encodable_words(tokenizer, list(examples["words"]))
        budget = self.settings.max_seq_length - tokenizer.num_special_tokens_to_add(pair=False)
        texts, windows = [], []  # windows: (example, first word, the words read here)
        for e, words in enumerate(sentences):
            spans = word_windows(pieces[e], budget, self.settings.doc_stride)
            home = home_windows(spans, len(words))
            for w, (start, end) in enumerate(spans):
                texts.append(words[start:end])
                windows.append((e, start, {word for word in range(start, end) if home[word] == w}))
        encoded = tokenizer(texts, is_split_into_words=True, truncation=True, max_length=self.settings.max_seq_length)
        tags = list(examples["tags"]) if "tags" in examples.column_names else None
        ids = list(examples["id"])
        features = Features(inputs=None, example_ids=[ids[e] for e, _, _ in windows])  # type: ignore[arg-type]
        labels = []
        for f, (e, start, homed) in enumerate(windows):
            firsts = [NO_WORD] * len(encoded.word_ids(f))
            previous = None
            for pos, word in enumerate(encoded.word_ids(f)):
                if word is not None and word != previous and start + word in homed:
                    firsts[pos] = start + word
                previous = word
            features.first_of_word.append(firsts)
            labels.append([tags[e][w] if tags and w != NO_WORD else IGNORED for w in firsts])
        features.inputs = datasets.Dataset.from_dict({**{k: encoded[k] for k in encoded.keys()}, "labels": labels})
        return features

    def padding(self, tokenizer):
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(tokenizer)

    def _per_word(self, values: Sequence[np.ndarray], features: Features, examples) -> list[list[np.ndarray]]:
        """Per example, the vector of each word read at its first sub-token in its home window."""
        index = {example_id: e for e, example_id in enumerate(examples["id"])}
        words: list[list[np.ndarray | None]] = [[None] * len(w) for w in examples["words"]]
        for f, firsts in enumerate(features.first_of_word):
            row = words[index[features.example_ids[f]]]
            for pos, word in enumerate(firsts):
                if word != NO_WORD:
                    row[word] = values[f][pos]
        missing = [examples["id"][e] for e, row in enumerate(words) if any(v is None for v in row)]
        if missing:
            raise AssertionError(f"words without a first sub-token in examples {missing[:3]}")
        return words  # type: ignore[return-value]

    def teacher_columns(self):
        return [ColumnSpec("logits", (WORDS, len(self.labels)))]

    def word_counts(self, examples):
        return {example_id: len(words) for example_id, words in zip(examples["id"], examples["words"])}

    def teacher_rows(self, outputs, features, examples):
        return [{"logits": np.asarray(row, dtype=np.float64).tolist()} for row in self._per_word(outputs["logits"], features, examples)]

    def teacher_targets(self, rows, features, indices, length):
        import torch

        logits = torch.zeros(len(indices), length, len(self.labels))
        mask = torch.zeros(len(indices), length, dtype=torch.bool)
        for b, (i, row) in enumerate(zip(indices, rows)):
            for pos, word in enumerate(features.first_of_word[i]):
                if word != NO_WORD:
                    logits[b, pos] = torch.tensor(row["logits"][word])
                    mask[b, pos] = True
        return {"logits": logits, "mask": mask}

    def kd_pairs(self, outputs, targets):
        return [(outputs.logits[targets["mask"]], targets["logits"][targets["mask"]])]

    def predictions(self, outputs, features, examples):
        return [[self.labels[int(v.argmax())] for v in row] for row in self._per_word(outputs["logits"], features, examples)]

    def references(self, examples):
        return [[self.labels[t] for t in tags] for tags in examples["tags"]]
