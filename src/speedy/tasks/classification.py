"""Single-text and text-pair classification (MLDoc, PAWS-X, XNLI): one logit vector per example."""

from __future__ import annotations

import pyarrow as pa

from speedy.cache import ColumnSpec
from speedy.tasks.base import Features, Task, label_id


class Classification(Task):
    """One label per text or text pair."""

    name = "classification"
    auto_model = "AutoModelForSequenceClassification"
    pipeline_task = "text-classification"
    fields = ("text", "label")
    metrics = ("accuracy",)
    outputs = ("logits",)
    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("text_pair", pa.string()), ("label", pa.int64())])
    paper_table = "table5"

    @classmethod
    def to_prepared(cls, record, index, report):
        row = {"id": record["id"], "text": record["text"]}
        if "text_pair" in record:
            row["text_pair"] = record["text_pair"]
        return {**row, "label": label_id(record["label"], index, record["where"])}

    def featurize(self, examples, tokenizer):
        pair = "text_pair" in examples.column_names

        def encode(batch):
            encoded = tokenizer(
                batch["text"], batch["text_pair"] if pair else None, truncation=True, max_length=self.settings.max_seq_length
            )
            encoded["labels"] = batch["label"]
            return encoded

        inputs = examples.map(encode, batched=True, remove_columns=examples.column_names)
        return Features(inputs=inputs, example_ids=list(examples["id"]))

    def teacher_columns(self):
        return [ColumnSpec("logits", (len(self.labels),))]

    def teacher_rows(self, outputs, features, examples):
        return [{"logits": [float(v) for v in logits]} for logits in outputs["logits"]]

    def teacher_targets(self, rows, features, indices, length):
        import torch

        return {"logits": torch.tensor([row["logits"] for row in rows], dtype=torch.float32)}

    def kd_pairs(self, outputs, targets):
        return [(outputs.logits, targets["logits"])]

    def predictions(self, outputs, features, examples):
        return [int(logits.argmax(-1)) for logits in outputs["logits"]]

    def references(self, examples):
        return list(examples["label"])
