"""A `word-classification` pipeline for the published token-task models (POS, NER): exactly one label per word.

It encodes words as the workflow does, so that its labels are the workflow's own, word for word:
- a word that the tokenizer turns into no sub-token (a BOM, a zero-width space, a lone combining mark) is encoded
  as the unknown token, so every word keeps exactly one first sub-token;
- a sentence longer than `max_seq_len` tokens is cut into windows of whole words that overlap by up to
  `doc_stride` tokens; each word is read in one window, its home: the one where it has the most words on both
  sides (ties: the earlier one), at its first sub-token.

`import speedy` registers it as "word-classification". Every published token model also carries this file and a
`custom_pipelines` entry ("speedy-word-classification") in its config.json, so that, with only transformers,

    tag = transformers.pipeline("speedy-word-classification", model=FOLDER, trust_remote_code=True)
    tag(["Ana", "vive", "en", "Lima", "."])  # [{"word": "Ana", "entity": "B-PER", "score": 0.98}, ...]

This file imports nothing from speedy: it must load on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from transformers import Pipeline

TASK = "word-classification"
REMOTE_TASK = "speedy-word-classification"  # the config.json custom_pipelines name (with trust_remote_code)
DEFAULTS = {"max_seq_len": 512, "doc_stride": 128}  # when the model's task_specific_params name none
CUSTOM_PIPELINE = {"impl": f"{Path(__file__).stem}.WordClassificationPipeline", "pt": ["AutoModelForTokenClassification"], "type": "text"}
NO_WORD = -1


def encodable_words(tokenizer, sentences: Sequence[Sequence[str]]) -> tuple[list[list[str]], list[list[int]]]:
    """The words of each sentence, with every word that encodes to no sub-token replaced by the unknown token, and
    the number of sub-tokens of each. The distinct words are encoded once, in one batch."""
    if tokenizer.unk_token is None:
        raise ValueError(f"{tokenizer.name_or_path}: the tokenizer has no unknown token to stand for empty words")
    distinct = sorted({word for words in sentences for word in words})
    encoded = tokenizer([[w] for w in distinct], is_split_into_words=True, add_special_tokens=False) if distinct else {"input_ids": []}
    pieces = {word: len(ids) for word, ids in zip(distinct, encoded["input_ids"])}
    words = [[word if pieces[word] else tokenizer.unk_token for word in sentence] for sentence in sentences]
    return words, [[max(pieces[word], 1) for word in sentence] for sentence in sentences]


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


def encode_words(tokenizer, sentences: Sequence[Sequence[str]], max_length: int, stride: int, **extra: Any):
    """Sentences of words as windows (the workflow's and the pipeline's encoding).

    Returns the encoding (one row per window), the sentence of each window, and per window and token the word
    (its index in the sentence) whose label that token carries: its first sub-token in its home window, else -1.
    """
    sentences, pieces = encodable_words(tokenizer, sentences)
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    texts, windows = [], []  # windows: (sentence, first word, the words read here)
    for s, words in enumerate(sentences):
        spans = word_windows(pieces[s], budget, stride)
        home = home_windows(spans, len(words))
        for w, (start, end) in enumerate(spans):
            texts.append(words[start:end])
            windows.append((s, start, {word for word in range(start, end) if home[word] == w}))
    encoded = tokenizer(texts, is_split_into_words=True, truncation=True, max_length=max_length, **extra)
    firsts = []
    for f, (_, start, homed) in enumerate(windows):
        row, previous = [NO_WORD] * len(encoded.word_ids(f)), None
        for pos, word in enumerate(encoded.word_ids(f)):
            if word is not None and word != previous and start + word in homed:
                row[pos] = start + word
            previous = word
        firsts.append(row)
    return encoded, [s for s, _, _ in windows], firsts


def pipeline_settings(max_seq_length: int, doc_stride: int) -> dict[str, int]:
    """The workflow's window settings under the pipeline's parameter names (for task_specific_params)."""
    return {"max_seq_len": max_seq_length, "doc_stride": doc_stride}


class WordClassificationPipeline(Pipeline):
    """One label per word of a sentence (a list of words, or a string split on whitespace)."""

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = True

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        """Tag one sentence (a list of words or a string), or a list of sentences (each a list of words)."""
        if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(word, str) for word in inputs):
            return super().__call__([list(inputs)], **kwargs)[0]
        return super().__call__(inputs, **kwargs)

    def _setting(self, name: str, value: int | None) -> int:
        """A call's value, else the model's task_specific_params, else the default."""
        if value is not None:
            return value
        saved = (getattr(self.model.config, "task_specific_params", None) or {}).get(TASK, {})
        return int(saved.get(name, DEFAULTS[name]))

    def _sanitize_parameters(self, max_seq_len=None, doc_stride=None):
        preprocess = {"max_seq_len": max_seq_len, "doc_stride": doc_stride}
        return {k: v for k, v in preprocess.items() if v is not None}, {}, {}

    def preprocess(self, words: str | Sequence[str], max_seq_len=None, doc_stride=None):
        words = words.split() if isinstance(words, str) else list(words)
        if not words or not all(isinstance(word, str) for word in words):
            raise ValueError(f"{TASK} takes a list of words or a non-empty string, got {words!r}")
        encoded, _, firsts = encode_words(
            self.tokenizer, [words], self._setting("max_seq_len", max_seq_len), self._setting("doc_stride", doc_stride),
            padding=True, return_tensors="pt",
        )  # fmt: skip
        model_inputs = {k: encoded[k] for k in self.tokenizer.model_input_names if k in encoded}
        return {"model_inputs": model_inputs, "firsts": firsts, "words": words}

    def _forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"logits": self.model(**inputs["model_inputs"]).logits, **inputs}

    def postprocess(self, outputs: dict[str, Any]) -> list[dict[str, Any]]:
        logits = outputs["logits"].float().numpy()
        labels = self.model.config.id2label
        result: list[dict[str, Any] | None] = [None] * len(outputs["words"])
        for window, firsts in enumerate(outputs["firsts"]):
            for pos, word in enumerate(firsts):
                if word != NO_WORD:
                    scores = np.exp(logits[window, pos] - logits[window, pos].max())
                    best = int(scores.argmax())
                    result[word] = {"word": outputs["words"][word], "entity": labels[best], "score": float(scores[best] / scores.sum())}
        return result  # type: ignore[return-value]


if __name__ == "speedy.word_pipeline":  # part of the speedy package, not a model folder's remote code: register
    from transformers import AutoModelForTokenClassification
    from transformers.pipelines import PIPELINE_REGISTRY

    PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=WordClassificationPipeline, pt_model=AutoModelForTokenClassification)
