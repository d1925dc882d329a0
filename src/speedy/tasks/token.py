"""Token classification (POS on UD AnCora, NER on CoNLL-2002): one label per word, on its first sub-token.

Words, not tokens, are the unit, encoded as `speedy.word_pipeline.encode_words` does for the published
pipeline: a word with no sub-token stands as the unknown token, and a long sentence is cut into windows of
whole words, each word read in one window (its home). A word's label, its teacher outputs and its prediction
sit on its first sub-token there, so every word gets exactly one prediction and counts once in the loss.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from speedy.cache import WORDS, ColumnSpec
from speedy.tasks.base import NO_WORD, Features, RecordError, Task, label_id

IGNORED = -100  # the label of tokens that carry no word's label


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

        from speedy import word_pipeline

        encoded, sentence_of, firsts = word_pipeline.encode_words(
            tokenizer, list(examples["words"]), self.settings.max_seq_length, self.settings.doc_stride
        )
        ids = list(examples["id"])
        tags = list(examples["tags"]) if "tags" in examples.column_names else None
        labels = [[tags[s][w] if tags and w != NO_WORD else IGNORED for w in row] for s, row in zip(sentence_of, firsts)]
        features = Features(inputs=None, example_ids=[ids[s] for s in sentence_of], first_of_word=firsts)  # type: ignore[arg-type]
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

    def save(self, model, tokenizer, out_dir):
        """Save the model with its word-classification pipeline (the code, and config.json's entry and settings)."""
        from speedy import word_pipeline

        model.config.custom_pipelines = {word_pipeline.REMOTE_TASK: word_pipeline.CUSTOM_PIPELINE}
        model.config.task_specific_params = {
            word_pipeline.TASK: word_pipeline.pipeline_settings(self.settings.max_seq_length, self.settings.doc_stride)
        }
        super().save(model, tokenizer, out_dir)
        shutil.copy(word_pipeline.__file__, out_dir)

    def usage(self):
        return (
            "import speedy  # registers the word-classification pipeline with transformers\n"
            "from transformers import pipeline\n\n"
            'tag = pipeline("word-classification", model="<this folder>")  # one label per word, as the workflow\n'
            'tag(["Ana", "vive", "en", "Lima", "."])\n\n'
            "# without the speedy package: the same pipeline, from this folder's word_pipeline.py\n"
            'tag = pipeline("speedy-word-classification", model="<this folder>", trust_remote_code=True)\n'
            "# transformers' own token-classification pipeline also runs it, on sub-tokens of raw text\n"
            'ner = pipeline("token-classification", model="<this folder>")'
        )
