"""Task metrics as percentages: accuracy, POS and NER F1, SQuAD v1.1 and MLQA (Spanish) QA scores."""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

MAIN_METRIC: dict[str, str] = {"accuracy": "accuracy", "pos_f1": "f1", "ner_f1": "f1", "squad": "f1"}
DESCRIPTION: dict[str, str] = {  # what a table cell of each metric shows (see headline)
    "accuracy": "accuracy",
    "pos_f1": "word-level micro F1",
    "ner_f1": "entity-level micro F1 (seqeval, CoNLL)",
    "squad": "SQuAD F1 / exact match",
}

SQUAD_PUNCT = frozenset(string.punctuation)
SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b")
SPANISH_ARTICLES = re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b")


def _percent(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else 0.0


def _check_lengths(predictions: Sequence[Any], references: Sequence[Any], what: str) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{what}: {len(predictions)} predictions for {len(references)} references")
    if not references:
        raise ValueError(f"{what}: no references to score")


def accuracy(predictions: Sequence[int], references: Sequence[int]) -> dict[str, float]:
    """Share of predicted label ids equal to the reference ids."""
    _check_lengths(predictions, references, "accuracy")
    correct = sum(p == r for p, r in zip(predictions, references))
    return {"accuracy": _percent(correct, len(references))}


def _truncated(predictions: list[list[str]], references: list[list[str]], what: str) -> None:
    """Check that no predicted sentence is longer than its reference (it may be cut short by truncation)."""
    _check_lengths(predictions, references, what)
    for i, (pred, ref) in enumerate(zip(predictions, references)):
        if len(pred) > len(ref):
            raise ValueError(f"{what}: sentence {i} has {len(pred)} predicted tags for {len(ref)} words")


def pos_f1(predictions: list[list[str]], references: list[list[str]]) -> dict[str, float]:
    """Word-level micro F1; words cut off by truncation have no prediction and count as misses."""
    _truncated(predictions, references, "pos_f1")
    correct = sum(p == r for pred, ref in zip(predictions, references) for p, r in zip(pred, ref))
    precision = _percent(correct, sum(map(len, predictions)))
    recall = _percent(correct, sum(map(len, references)))
    f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
    return {"f1": f1}


def ner_f1(predictions: list[list[str]], references: list[list[str]]) -> dict[str, float]:
    """Entity-level micro F1, precision and recall (seqeval, CoNLL); truncated words are tagged O."""
    from seqeval.metrics import f1_score, precision_score, recall_score  # imports scikit-learn: only where needed

    _truncated(predictions, references, "ner_f1")
    padded = [list(pred) + ["O"] * (len(ref) - len(pred)) for pred, ref in zip(predictions, references)]
    refs = [list(ref) for ref in references]
    return {
        "f1": 100.0 * f1_score(refs, padded, zero_division=0),
        "precision": 100.0 * precision_score(refs, padded, zero_division=0),
        "recall": 100.0 * recall_score(refs, padded, zero_division=0),
    }


def normalize_squad(text: str) -> str:
    """SQuAD v1.1 normalize_answer: lower, drop ASCII punctuation and English articles, fix whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in SQUAD_PUNCT)
    return " ".join(SQUAD_ARTICLES.sub(" ", text).split())


def _mlqa_punct(ch: str) -> bool:
    """MLQA's PUNCT: any Unicode punctuation (category P*) or a character of string.punctuation."""
    return ch in SQUAD_PUNCT or unicodedata.category(ch).startswith("P")


def normalize_mlqa(text: str) -> str:
    """MLQA normalize_answer for Spanish: lower, drop Unicode punctuation and Spanish articles, fix whitespace."""
    text = "".join(ch for ch in text.lower() if not _mlqa_punct(ch))
    return " ".join(SPANISH_ARTICLES.sub(" ", text).split())


def _token_f1(prediction: str, gold: str, normalize: Callable[[str], str]) -> float:
    pred_tokens, gold_tokens = normalize(prediction).split(), normalize(gold).split()
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _exact(prediction: str, gold: str, normalize: Callable[[str], str]) -> float:
    return float(normalize(prediction) == normalize(gold))


def _qa_scores(
    predictions: dict[str, str], references: dict[str, list[str]], normalize: Callable[[str], str]
) -> tuple[float, float]:
    """Mean over references of the best exact match and token F1 against any gold answer, in percent."""
    exact = f1 = 0.0
    for qid, golds in references.items():
        if not golds:
            raise ValueError(f"squad: reference {qid!r} has no gold answers")
        if qid not in predictions:
            continue
        exact += max(_exact(predictions[qid], gold, normalize) for gold in golds)
        f1 += max(_token_f1(predictions[qid], gold, normalize) for gold in golds)
    return _percent(exact, len(references)), _percent(f1, len(references))


def squad(predictions: dict[str, str], references: dict[str, list[str]]) -> dict[str, float]:
    """SQuAD v1.1 exact match and F1, and the same under MLQA's Spanish normalisation; unanswered ids score 0."""
    if not references:
        raise ValueError("squad: no references to score")
    exact_match, f1 = _qa_scores(predictions, references, normalize_squad)
    mlqa_exact_match, mlqa_f1 = _qa_scores(predictions, references, normalize_mlqa)
    return {"exact_match": exact_match, "f1": f1, "mlqa_exact_match": mlqa_exact_match, "mlqa_f1": mlqa_f1}


METRICS: dict[str, Callable[[Any, Any], dict[str, float]]] = {
    "accuracy": accuracy,
    "pos_f1": pos_f1,
    "ner_f1": ner_f1,
    "squad": squad,
}


def compute(metric: str, predictions: dict[str, Any], references: dict[str, Any]) -> dict[str, float]:
    """Score predictions against references, both keyed by example id, with the config metric `metric`."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {sorted(METRICS)}")
    if metric == "squad":
        return squad(predictions, references)
    missing = [i for i in references if i not in predictions]
    if missing:
        raise ValueError(f"{metric}: no prediction for {len(missing)} example(s), e.g. {missing[:3]}")
    return METRICS[metric]([predictions[i] for i in references], list(references.values()))


def headline(metric: str, scores: dict[str, float]) -> float | str:
    """The figure a table shows for a metric's scores: the main score, or "F1 / EM" for QA."""
    if metric == "squad":
        return f"{scores['f1']:.2f} / {scores['exact_match']:.2f}"
    return round(float(scores[MAIN_METRIC[metric]]), 2)
