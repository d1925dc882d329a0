"""Task adaptors: preprocessing, per-word alignment across two tokenizers, teacher targets and post-processing."""

from __future__ import annotations

import math

import datasets
import numpy as np
import pytest
import torch

from speedy.models import load_tokenizer
from speedy.tasks import NO_WORD, Features, TaskSettings, make_task
from speedy.tasks.qa import CONTEXT_WORD, QuestionAnswering
from speedy.tasks.token import TokenClassification

NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


@pytest.fixture(scope="module")
def tokenizers(data_demo):
    """A BERT-family teacher tokenizer (WordPiece) and an ALBERT student tokenizer (Unigram)."""
    models = data_demo["models"]
    return load_tokenizer(models["beto-cased"]["pretrained"]), load_tokenizer(models["albeto-tiny"]["pretrained"])


def token_examples() -> datasets.Dataset:
    words = [["Gabriela", "Mistral", "nació", "en", "Vicuña", "."], ["La", "Universidad", "de", "Chile", "publicó", "resultados"]]
    tags = [[1, 2, 0, 0, 5, 0], [0, 3, 4, 4, 0, 0]]
    return datasets.Dataset.from_dict({"id": ["a", "b"], "words": words, "tags": tags})


def qa_examples() -> datasets.Dataset:
    context = (
        "La ciudad de Valparaíso fue fundada en 1536 por Juan de Saavedra , y hoy es conocida por sus cerros , "
        "sus ascensores y su puerto , que durante el siglo diecinueve fue el más importante del Pacífico sur ."
    )
    spans = [(m.start(), m.group()) for m in CONTEXT_WORD.finditer(context)]
    answer = "Juan de Saavedra"
    return datasets.Dataset.from_dict(
        {
            "id": ["q1"],
            "question": ["¿Quién fundó Valparaíso?"],
            "context": [context],
            "words": [[w for _, w in spans]],
            "word_offsets": [[s for s, _ in spans]],
            "answers": [{"text": [answer], "answer_start": [context.index(answer)]}],
        }
    )


def test_token_labels_sit_on_first_sub_tokens(tokenizers):
    teacher_tok, _ = tokenizers
    task = TokenClassification(TaskSettings(max_seq_length=64), NER_LABELS)
    features = task.featurize(token_examples(), teacher_tok)
    for i, tags in enumerate(token_examples()["tags"]):
        labels = features.inputs[i]["labels"]
        starts = features.first_of_word[i]
        assert [w for w in starts if w != NO_WORD] == list(range(len(tags)))
        assert [labels[p] for p, w in enumerate(starts) if w != NO_WORD] == tags
        assert all(label == -100 for p, label in enumerate(labels) if starts[p] == NO_WORD)


def test_token_teacher_outputs_reach_the_student_word_by_word(tokenizers):
    """Teacher (WordPiece) per-word logits land on the student's (Unigram) first sub-token of the same word."""
    teacher_tok, student_tok = tokenizers
    task = TokenClassification(TaskSettings(max_seq_length=64), NER_LABELS)
    examples = token_examples()
    teacher_features = task.featurize(examples, teacher_tok)
    student_features = task.featurize(examples, student_tok)
    segmentations = [
        [sum(1 for w in f.word_ids(i) if w == word) for word in range(6)]
        for f in (teacher_tok(list(examples["words"]), is_split_into_words=True), student_tok(list(examples["words"]), is_split_into_words=True))
        for i in (0,)
    ]
    assert segmentations[0] != segmentations[1], "the two tokenizers should split some word differently"
    # fake teacher logits: channel 0 holds the index of the word the token belongs to
    outputs = {"logits": []}
    for i in range(2):
        starts = teacher_features.first_of_word[i]
        logits = np.full((len(starts), len(NER_LABELS)), -1.0)
        for pos, word in enumerate(starts):
            if word != NO_WORD:
                logits[pos, 0] = word
        outputs["logits"].append(logits)
    rows = task.teacher_rows(outputs, teacher_features, examples)
    assert [len(r["logits"]) for r in rows] == [6, 6]
    length = max(len(s) for s in student_features.first_of_word)
    targets = task.teacher_targets(rows, student_features, [0, 1], length)
    for b in range(2):
        for pos, word in enumerate(student_features.first_of_word[b]):
            assert bool(targets["mask"][b, pos]) == (word != NO_WORD)
            if word != NO_WORD:
                assert targets["logits"][b, pos, 0].item() == word


def test_token_predictions_are_read_back_per_word(tokenizers):
    teacher_tok, _ = tokenizers
    task = TokenClassification(TaskSettings(max_seq_length=64), NER_LABELS)
    examples = token_examples()
    features = task.featurize(examples, teacher_tok)
    logits = []
    for i, tags in enumerate(examples["tags"]):
        one_hot = np.zeros((len(features.first_of_word[i]), len(NER_LABELS)))
        for pos, word in enumerate(features.first_of_word[i]):
            one_hot[pos, tags[word] if word != NO_WORD else 8] = 1.0
        logits.append(one_hot)
    assert task.predictions({"logits": logits}, features, examples) == task.references(examples)


def test_qa_windows_and_gold_positions(tokenizers):
    teacher_tok, _ = tokenizers
    task = QuestionAnswering(TaskSettings(max_seq_length=32, doc_stride=8, max_question_length=12), [])
    examples = qa_examples()
    features = task.featurize(examples, teacher_tok)
    assert len(features.example_ids) > 2, "a long context must be split into several windows"
    found = 0
    for f in range(len(features.example_ids)):
        start, end = features.inputs[f]["start_positions"], features.inputs[f]["end_positions"]
        if start == 0:
            continue
        found += 1
        offsets = features.offsets[f]
        assert examples["context"][0][offsets[start][0] : offsets[end][1]] == "Juan de Saavedra"
    assert found >= 1


def test_qa_merge_takes_each_word_from_its_most_central_window(tokenizers):
    """Every context word gets the logits of the window where it has the most context on both sides."""
    teacher_tok, _ = tokenizers
    task = QuestionAnswering(TaskSettings(max_seq_length=32, doc_stride=8, max_question_length=12), [])
    examples = qa_examples()
    features = task.featurize(examples, teacher_tok)
    # encode (window, word) into the fake logits: start = word + window / 100, end = -(word + window / 100)
    outputs = {"start_logits": [], "end_logits": []}
    for f in range(len(features.example_ids)):
        start = np.zeros(len(features.offsets[f]))
        end = np.zeros(len(features.offsets[f]))
        for pos, word in enumerate(features.first_of_word[f]):
            if word != NO_WORD:
                start[pos] = word + f / 100
        for pos, word in enumerate(features.last_of_word[f]):
            if word != NO_WORD:
                end[pos] = -(word + f / 100)
        outputs["start_logits"].append(start)
        outputs["end_logits"].append(end)
    row = task.teacher_rows(outputs, features, examples)[0]
    n_words = len(examples["words"][0])
    assert len(row["start_logits"]) == n_words
    for word in range(n_words):
        # the expected window, computed independently: where the word is whole and most central
        best, best_score = None, -1
        for f in range(len(features.example_ids)):
            starts, ends = features.first_of_word[f], features.last_of_word[f]
            context = [p for p, o in enumerate(features.offsets[f]) if o is not None]
            if word not in starts or word not in ends:
                continue
            first_pos, last_pos = starts.index(word), ends.index(word)
            whole = features.offsets[f][first_pos][0] <= examples["word_offsets"][0][word] and features.offsets[f][last_pos][1] >= examples["word_offsets"][0][word] + len(examples["words"][0][word])
            score = min(first_pos - context[0], context[-1] - last_pos)
            if whole and score > best_score:
                best, best_score = f, score
        assert best is not None, f"word {word} is whole in some window"
        assert row["start_logits"][word] == pytest.approx(word + best / 100)
        assert row["end_logits"][word] == pytest.approx(-(word + best / 100))


def test_qa_teacher_targets_follow_words_across_tokenizers(tokenizers):
    """A BERT teacher's per-word outputs reach an ALBERT student's windows: start on each word's first
    sub-token, end on its last, as log-probabilities over the whole context; [CLS] holds the rest."""
    teacher_tok, student_tok = tokenizers
    task = QuestionAnswering(TaskSettings(max_seq_length=32, doc_stride=8, max_question_length=12), [])
    examples = qa_examples()
    n_words = len(examples["words"][0])
    row = {"start_logits": [float(w) for w in range(n_words)], "end_logits": [float(-w) for w in range(n_words)]}
    row["start_logits"][0] = math.nan  # a word the teacher never saw whole
    start_log_probs = torch.tensor(row["start_logits"][1:]).log_softmax(0).tolist()
    end_log_probs = torch.tensor(row["end_logits"]).log_softmax(0).tolist()
    student = task.featurize(examples, student_tok)
    assert len(student.example_ids) > 2, "the student needs several windows"
    indices = list(range(len(student.example_ids)))
    length = max(len(o) for o in student.offsets)
    targets = task.teacher_targets([row] * len(indices), student, indices, length)
    for b, f in enumerate(indices):
        starts = student.first_of_word[f] + [NO_WORD] * (length - len(student.first_of_word[f]))
        ends = student.last_of_word[f] + [NO_WORD] * (length - len(student.last_of_word[f]))
        for pos in range(1, length):
            expected_start = start_log_probs[starts[pos] - 1] if starts[pos] not in (NO_WORD, 0) else -math.inf
            expected_end = end_log_probs[ends[pos]] if ends[pos] != NO_WORD else -math.inf
            assert targets["start"][b, pos].item() == pytest.approx(expected_start, abs=1e-5)
            assert targets["end"][b, pos].item() == pytest.approx(expected_end, abs=1e-5)
        for name in ("start", "end"):  # each window's targets are one distribution, [CLS] included
            assert targets[name][b].exp().sum().item() == pytest.approx(1.0, abs=1e-5)
    # the student's KD pairs cover [CLS] and the context tokens only (question and padding are masked out)
    span = targets["span"]
    assert span[:, 0].all()
    for b, f in enumerate(indices):
        assert span[b, 1:].tolist() == [p < len(student.offsets[f]) and student.offsets[f][p] is not None for p in range(1, length)]
    fake = type("Out", (), {"start_logits": torch.zeros(len(indices), length), "end_logits": torch.zeros(len(indices), length)})
    (s_start, t_start), _ = task.kd_pairs(fake, targets)
    assert torch.isinf(s_start[~span]).all() and torch.isfinite(s_start[span]).all()


def test_qa_post_processing_picks_the_best_valid_span():
    task = QuestionAnswering(TaskSettings(max_seq_length=16, max_question_length=4, n_best=5, max_answer_length=3), [])
    context = "uno dos tres cuatro cinco"
    examples = datasets.Dataset.from_dict({"id": ["q"], "context": [context]})
    # window 0: [CLS] q [SEP] uno dos tres [SEP]; window 1: [CLS] q [SEP] tres cuatro cinco [SEP]
    offsets_0 = [None, None, None, (0, 3), (4, 7), (8, 12), None]
    offsets_1 = [None, None, None, (8, 12), (13, 19), (20, 25), None]
    features = Features(inputs=None, example_ids=["q", "q"], offsets=[offsets_0, offsets_1])  # type: ignore[arg-type]
    start_0 = np.array([9.0, 0, 0, 1, 0, 0, 0])  # the best start logit sits on [CLS]: not context, skipped
    end_0 = np.array([9.0, 0, 0, 0, 2, 0, 0])
    start_1 = np.array([0.0, 0, 0, 0, 3, 0, 0])  # "cuatro" .. "cinco" scores 3 + 4 = 7
    end_1 = np.array([0.0, 0, 0, 0, 0, 4, 0])
    prediction = task.predictions({"start_logits": [start_0, start_1], "end_logits": [end_0, end_1]}, features, examples)
    assert prediction == ["cuatro cinco"]


def test_qa_post_processing_respects_the_maximum_answer_length():
    task = QuestionAnswering(TaskSettings(max_seq_length=16, max_question_length=4, n_best=5, max_answer_length=2), [])
    context = "uno dos tres"
    examples = datasets.Dataset.from_dict({"id": ["q"], "context": [context]})
    features = Features(inputs=None, example_ids=["q"], offsets=[[None, (0, 3), (4, 7), (8, 12)]])  # type: ignore[arg-type]
    start = np.array([0.0, 5, 0, 0])
    end = np.array([0.0, 0, 1, 5])  # "uno dos tres" is 3 tokens long: too long; "uno dos" wins
    assert task.predictions({"start_logits": [start], "end_logits": [end]}, features, examples) == ["uno dos"]


def test_classification_pairs_and_teacher_round_trip(tokenizers):
    teacher_tok, _ = tokenizers
    task = make_task("classification", TaskSettings(max_seq_length=64), ["a", "b", "c"])
    examples = datasets.Dataset.from_dict({"id": ["x", "y"], "text": ["hola", "adiós"], "text_pair": ["mundo", "amigo"], "label": [2, 0]})
    features = task.featurize(examples, teacher_tok)
    assert features.inputs["labels"] == [2, 0]
    assert teacher_tok.sep_token_id in features.inputs[0]["input_ids"][1:-1], "pairs are joined by a separator"
    rows = task.teacher_rows({"logits": np.array([[0.1, 0.2, 0.7], [1.0, 0.0, 0.0]])}, features, examples)
    targets = task.teacher_targets(rows[::-1], features, [1, 0], 8)
    assert torch.allclose(targets["logits"], torch.tensor([[1.0, 0.0, 0.0], [0.1, 0.2, 0.7]]))


def test_qa_selection_loss_does_not_depend_on_how_contexts_are_cut(tokenizers):
    """The same per-word scores, read through windows of two sizes, give the same selection loss (and different
    window counts and window losses)."""
    teacher_tok, _ = tokenizers
    examples = qa_examples()
    losses, windows = [], []
    for settings in (TaskSettings(max_seq_length=32, doc_stride=8, max_question_length=12), TaskSettings(max_seq_length=64, doc_stride=16, max_question_length=12)):
        task = QuestionAnswering(settings, [])
        features = task.featurize(examples, teacher_tok)
        outputs = {"start_logits": [], "end_logits": []}
        for f in range(len(features.example_ids)):  # each word's score depends on the word alone
            start, end = np.full(len(features.offsets[f]), -5.0), np.full(len(features.offsets[f]), -5.0)
            for pos, word in enumerate(features.first_of_word[f]):
                if word != NO_WORD:
                    start[pos] = math.sin(word)
            for pos, word in enumerate(features.last_of_word[f]):
                if word != NO_WORD:
                    end[pos] = math.cos(word)
            outputs["start_logits"].append(start)
            outputs["end_logits"].append(end)
        losses.append(task.selection_loss(outputs, features, examples))
        windows.append(len(features.example_ids))
    assert windows[0] > windows[1]
    assert losses[0] == pytest.approx(losses[1], abs=1e-9) and math.isfinite(losses[0])
