"""Hand-computed checks of the task metrics."""

import pytest

from speedy.metrics import MAIN_METRIC, accuracy, compute, ner_f1, normalize_mlqa, normalize_squad, pos_f1, squad, headline


def test_accuracy():
    assert accuracy([1, 0, 2, 2], [1, 1, 2, 0]) == {"accuracy": 50.0}


def test_accuracy_rejects_length_mismatch():
    with pytest.raises(ValueError, match="3 predictions for 2 references"):
        accuracy([1, 0, 2], [1, 0])


def test_pos_f1_equals_word_accuracy_when_every_word_is_tagged():
    result = pos_f1([["DET", "NOUN", "VERB"], ["PROPN"]], [["DET", "NOUN", "ADJ"], ["PROPN"]])
    assert result["f1"] == pytest.approx(75.0)


def test_pos_f1_counts_truncated_words_as_misses():
    # 2 correct of 2 predicted (P = 100) and of 4 reference words (R = 50): F1 = 2PR / (P + R) = 66.67
    result = pos_f1([["DET", "NOUN"]], [["DET", "NOUN", "VERB", "ADJ"]])
    assert result["f1"] == pytest.approx(200 / 3)


def test_pos_f1_rejects_longer_predictions():
    with pytest.raises(ValueError, match="sentence 0 has 2 predicted tags for 1 words"):
        pos_f1([["DET", "NOUN"]], [["DET"]])


def test_ner_f1_boundary_error_and_spurious_entity():
    # gold: PER(0-1), LOC(3); predicted: PER(0) (boundary error), ORG(2) (spurious), LOC(3) (correct)
    result = ner_f1([["B-PER", "O", "B-ORG", "B-LOC"]], [["B-PER", "I-PER", "O", "B-LOC"]])
    assert result["precision"] == pytest.approx(100 / 3)
    assert result["recall"] == pytest.approx(50.0)
    assert result["f1"] == pytest.approx(40.0)


def test_ner_f1_truncated_words_are_outside():
    result = ner_f1([["B-PER", "I-PER"]], [["B-PER", "I-PER", "O", "B-LOC"]])
    assert result == pytest.approx({"f1": 200 / 3, "precision": 100.0, "recall": 50.0})


def test_normalizers():
    assert normalize_squad("The  Cat, a dog!") == "cat dog"
    assert normalize_squad("¡Hola!") == "¡hola"  # ¡ is not in string.punctuation
    assert normalize_mlqa("¡Hola! El gato y LAS «casas»") == "hola gato y casas"
    assert normalize_mlqa("elefante la") == "elefante"  # articles only as whole words


def test_squad_english_articles_against_spanish_articles():
    result = squad({"q1": "the cat", "q2": "el gato"}, {"q1": ["cat"], "q2": ["gato"]})
    # SQuAD: q1 exact; q2 keeps "el": F1 = 2 * (1/2 * 1) / (1/2 + 1) = 2/3
    assert result["exact_match"] == pytest.approx(50.0)
    assert result["f1"] == pytest.approx(100 * (1 + 2 / 3) / 2)
    # MLQA (es): q1 keeps "the" (F1 2/3); q2 exact
    assert result["mlqa_exact_match"] == pytest.approx(50.0)
    assert result["mlqa_f1"] == pytest.approx(100 * (2 / 3 + 1) / 2)


def test_squad_unicode_punctuation():
    result = squad({"q": "¡Hola!"}, {"q": ["hola"]})
    assert result["exact_match"] == 0.0 and result["f1"] == 0.0
    assert result["mlqa_exact_match"] == 100.0 and result["mlqa_f1"] == 100.0


def test_squad_takes_best_gold_answer():
    result = squad({"q": "Madrid"}, {"q": ["Barcelona", "madrid."]})
    assert result == {"exact_match": 100.0, "f1": 100.0, "mlqa_exact_match": 100.0, "mlqa_f1": 100.0}


def test_squad_partial_overlap():
    result = squad({"q": "rey de España"}, {"q": ["el rey Felipe de España"]})
    # SQuAD: 3 shared of 3 predicted and 5 gold tokens: F1 = 2 * 1 * 0.6 / 1.6 = 0.75
    assert result["f1"] == pytest.approx(75.0)
    # MLQA drops "el": 3 shared of 3 and 4 tokens: F1 = 2 * 1 * 0.75 / 1.75 = 6/7
    assert result["mlqa_f1"] == pytest.approx(600 / 7)
    assert result["exact_match"] == result["mlqa_exact_match"] == 0.0


def test_squad_missing_prediction_scores_zero():
    result = squad({"q1": "gato"}, {"q1": ["gato"], "q2": ["perro"]})
    assert result["exact_match"] == 50.0 and result["f1"] == 50.0
    assert result["mlqa_exact_match"] == 50.0 and result["mlqa_f1"] == 50.0


def test_compute_dispatches_and_main_metric_is_in_result():
    cases = {  # predictions and references keyed by example id
        "accuracy": ({"a": 1, "b": 0}, {"b": 0, "a": 1}),
        "pos_f1": ({"s": ["NOUN"]}, {"s": ["NOUN"]}),
        "ner_f1": ({"s": ["B-PER"]}, {"s": ["B-PER"]}),
        "squad": ({"q": "gato"}, {"q": ["gato"]}),
    }
    for metric, (predictions, references) in cases.items():
        assert compute(metric, predictions, references)[MAIN_METRIC[metric]] == 100.0
    with pytest.raises(ValueError, match="unknown metric 'bleu'"):
        compute("bleu", {}, {})
    with pytest.raises(ValueError, match=r"accuracy: no prediction for 1 example\(s\), e.g. \['b'\]"):
        compute("accuracy", {"a": 1}, {"a": 1, "b": 0})


def test_headline_is_the_main_score_or_f1_and_em():
    assert headline("accuracy", {"accuracy": 81.234}) == 81.23
    assert headline("squad", {"f1": 70.0, "exact_match": 55.5, "mlqa_f1": 71.0}) == "70.00 / 55.50"
