"""A `question-answering` pipeline for the published QA models: doc-stride windows and n-best spans, as in HF utils_qa.

transformers 5 ships no question-answering pipeline. `import speedy` registers this one as "question-answering".
Every published QA model also carries this file and a `custom_pipelines` entry ("speedy-question-answering") in
its config.json, so that, with only transformers installed,

    qa = transformers.pipeline("speedy-question-answering", model=FOLDER, trust_remote_code=True)
    qa(question="¿Dónde nació Ana?", context="Ana nació en Lima.")  # {"answer", "score", "start", "end"}

gives the workflow's own predictions. This file imports nothing from speedy: it must load on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from transformers import Pipeline

TASK = "question-answering"
REMOTE_TASK = "speedy-question-answering"  # the config.json custom_pipelines name (with trust_remote_code)
# Window and span settings when the model's config.json names none (task_specific_params["question-answering"]).
DEFAULTS = {"max_seq_len": 512, "doc_stride": 128, "max_question_len": 64, "n_best": 20, "max_answer_len": 30}
SPECIAL_TOKENS = 4  # at most: <s> question </s></s> context </s> (RoBERTa); BERT and ALBERT use 3
CUSTOM_PIPELINE = {"impl": f"{Path(__file__).stem}.QuestionAnsweringPipeline", "pt": ["AutoModelForQuestionAnswering"], "type": "text"}

Offsets = Sequence["tuple[int, int] | None"]


def window_room(max_length: int, stride: int, max_question_length: int) -> int:
    """Context tokens left in a window after the longest question and the special tokens, beyond the stride.

    It must be positive: each window then advances through the context (the tokenizer refuses a stride that
    leaves no room, with a Rust panic that names no question).
    """
    return max_length - max_question_length - SPECIAL_TOKENS - stride


def cut_questions(tokenizer, questions: list[str], max_question_length: int) -> tuple[list[str], int]:
    """The questions cut to at most `max_question_length` tokens (at a token's end), and how many were cut."""
    encoded = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    cut = []
    for question, offsets in zip(questions, encoded["offset_mapping"]):
        keep = max_question_length
        while len(offsets) > max_question_length:  # a cut word may split into more pieces: cut again, shorter
            question = question[: offsets[keep - 1][1]]
            offsets = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
            keep -= 1
        cut.append(question)
    return cut, sum(a != b for a, b in zip(cut, questions))


def encode_windows(tokenizer, questions: list[str], contexts: list[str], max_length: int, stride: int, max_question_length: int, **extra: Any):
    """Question-context pairs as doc-stride windows with character offsets (the workflow's and the pipeline's).

    Questions longer than `max_question_length` tokens are cut to it first, so every window keeps room for
    context and stride. Returns the encoding and the number of questions cut.
    """
    if window_room(max_length, stride, max_question_length) <= 0:
        raise ValueError(
            f"max_seq_length {max_length}, doc_stride {stride} and max_question_length {max_question_length} leave "
            f"no context in a window; max_seq_length must exceed doc_stride + max_question_length + {SPECIAL_TOKENS}"
        )
    questions, cut = cut_questions(tokenizer, list(questions), max_question_length)
    encoded = tokenizer(
        questions, list(contexts), truncation="only_second", max_length=max_length, stride=stride,
        return_overflowing_tokens=True, return_offsets_mapping=True, **extra,
    )  # fmt: skip
    return encoded, cut


def context_offsets(encoded: Any, window: int, length: int | None = None) -> list[tuple[int, int] | None]:
    """Per token of one window (its first `length`): the character span in the context, None outside the context."""
    offsets = encoded["offset_mapping"][window]
    offsets = offsets.tolist() if hasattr(offsets, "tolist") else offsets
    return [tuple(o) if sid == 1 else None for o, sid in zip(offsets, encoded.sequence_ids(window))][:length]


def best_span(
    start_logits: np.ndarray, end_logits: np.ndarray, offsets: Offsets, n_best: int, max_answer_length: int
) -> tuple[float, int, int] | None:
    """The best span of one window as (start + end logit, first char, end char); None if no span fits.

    Candidates are the n_best start and end positions; spans that leave the context (offset None),
    end before they start or run longer than max_answer_length tokens are skipped.
    """
    start_logits, end_logits = start_logits[: len(offsets)], end_logits[: len(offsets)]
    best = None
    for start in np.argsort(start_logits)[-1 : -n_best - 1 : -1]:
        for end in np.argsort(end_logits)[-1 : -n_best - 1 : -1]:
            if offsets[start] is None or offsets[end] is None:
                continue
            if end < start or end - start + 1 > max_answer_length:
                continue
            score = float(start_logits[start] + end_logits[end])
            if best is None or score > best[0]:
                best = (score, offsets[start][0], offsets[end][1])
    return best


def pipeline_settings(max_seq_length: int, doc_stride: int, max_question_length: int, n_best: int, max_answer_length: int) -> dict[str, int]:
    """The workflow's QA settings under the pipeline's parameter names (for task_specific_params)."""
    return {
        "max_seq_len": max_seq_length, "doc_stride": doc_stride, "max_question_len": max_question_length,
        "n_best": n_best, "max_answer_len": max_answer_length,
    }  # fmt: skip


class QuestionAnsweringPipeline(Pipeline):
    """Extractive QA: one answer per (question, context), the best span over all doc-stride windows."""

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = True

    def __call__(self, inputs: Any = None, **kwargs: Any) -> Any:
        """Answer {"question", "context"} dicts (one or a list), or question=..., context=... keywords."""
        if inputs is None:
            inputs = {"question": kwargs.pop("question"), "context": kwargs.pop("context")}
        return super().__call__(inputs, **kwargs)

    def _setting(self, name: str, value: int | None) -> int:
        """A call's value, else the model's task_specific_params, else the default."""
        if value is not None:
            return value
        saved = (getattr(self.model.config, "task_specific_params", None) or {}).get(TASK, {})
        return int(saved.get(name, DEFAULTS[name]))

    def _sanitize_parameters(self, max_seq_len=None, doc_stride=None, max_question_len=None, n_best=None, max_answer_len=None):
        preprocess = {"max_seq_len": max_seq_len, "doc_stride": doc_stride, "max_question_len": max_question_len}
        postprocess = {"n_best": n_best, "max_answer_len": max_answer_len}
        return (
            {k: v for k, v in preprocess.items() if v is not None},
            {},
            {k: v for k, v in postprocess.items() if v is not None},
        )

    def preprocess(self, inputs: dict[str, str], max_seq_len=None, doc_stride=None, max_question_len=None):
        if not isinstance(inputs, dict) or not {"question", "context"} <= set(inputs):
            raise ValueError(f"{TASK} takes {{'question': ..., 'context': ...}}, got {inputs!r}")
        encoded, _ = encode_windows(
            self.tokenizer, [inputs["question"]], [inputs["context"]], self._setting("max_seq_len", max_seq_len),
            self._setting("doc_stride", doc_stride), self._setting("max_question_len", max_question_len),
            padding=True, return_tensors="pt",
        )  # fmt: skip
        lengths = encoded["attention_mask"].sum(-1).tolist()
        offsets = [context_offsets(encoded, window, n) for window, n in enumerate(lengths)]
        model_inputs = {k: encoded[k] for k in self.tokenizer.model_input_names if k in encoded}
        return {"model_inputs": model_inputs, "offsets": offsets, "context": inputs["context"]}

    def _forward(self, inputs: dict[str, Any]) -> dict[str, Any]:
        outputs = self.model(**inputs["model_inputs"])
        return {"start_logits": outputs.start_logits, "end_logits": outputs.end_logits, **inputs}

    def postprocess(self, outputs: dict[str, Any], n_best: int | None = None, max_answer_len: int | None = None):
        n_best, max_answer_len = self._setting("n_best", n_best), self._setting("max_answer_len", max_answer_len)
        spans = [
            best_span(start.float().numpy(), end.float().numpy(), offsets, n_best, max_answer_len)
            for start, end, offsets in zip(outputs["start_logits"], outputs["end_logits"], outputs["offsets"])
        ]
        spans = [span for span in spans if span is not None]
        if not spans:
            return {"answer": "", "score": float("-inf"), "start": 0, "end": 0}
        score, start, end = max(spans, key=lambda span: span[0])
        return {"answer": outputs["context"][start:end], "score": score, "start": start, "end": end}


if __name__ == "speedy.qa_pipeline":  # part of the speedy package, not a model folder's remote code: register
    from transformers import AutoModelForQuestionAnswering
    from transformers.pipelines import PIPELINE_REGISTRY, REMOVED_TASKS

    REMOVED_TASKS.pop(TASK, None)  # transformers 5 refuses the name of the task it dropped, which this is
    PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=QuestionAnsweringPipeline, pt_model=AutoModelForQuestionAnswering)
