"""Loaders of every source format, their errors, hub splits (mocked) and prepared Parquet output."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import datasets
import pytest

from speedy.data import DataError, SplitReport, XNLI_COLUMNS, read_labels, read_split
from speedy.tasks.qa import snap_to_words

from conftest import prepare, source_split

CONTEXT = "Ana vive en Lima desde 1990."
QAS = [
    {"id": "q1", "question": "¿Dónde vive Ana?", "answers": [{"text": "Lima", "answer_start": 12}]},
    {
        "id": "q2",
        "question": "¿Desde cuándo?",
        "answers": [{"text": "1990", "answer_start": 23}, {"text": "desde 1990", "answer_start": 17}],
    },
]
SQUAD = {"version": "1.1", "data": [{"title": "Ana", "paragraphs": [{"context": CONTEXT, "qas": QAS}]}]}


def xnli_row(language: str, label: str, premise: str, hypothesis: str, pair: str) -> str:
    fields = {c: "_" for c in XNLI_COLUMNS}
    fields.update(language=language, gold_label=label, sentence1=premise, sentence2=hypothesis, pairID=pair)
    return "\t".join(fields[c] for c in XNLI_COLUMNS)


GOOD = {  # format -> (file text, task, labels)
    "mldoc_tsv": ("CCAT\tLa empresa ganó.\nGCAT\tEl gobierno habló.\n\n", "classification",
                  ["CCAT", "ECAT", "GCAT", "MCAT"]),
    "pawsx_tsv": ("id\tsentence1\tsentence2\tlabel\n7\tA vio a B.\tB vio a A.\t0\n8\tA vio a B.\tA miró a B.\t1\n",
                  "classification", ["0", "1"]),
    "xnli_tsv": ("\t".join(XNLI_COLUMNS) + "\n"
                 + xnli_row("es", "contradiction", "Ana comió.", "Nadie comió.", "11") + "\n"
                 + xnli_row("en", "neutral", "Ann ate.", "Ann is tall.", "12") + "\n"
                 + xnli_row("es", "entailment", "Ana comió.", "Alguien comió.", "13") + "\n",
                 "classification", ["entailment", "neutral", "contradiction"]),
    "conll2002": ("-DOCSTART- O\n\nAna B-PER\nGarcía I-PER\nvive O\n\nen O\nLima B-LOC\n", "token",
                  ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]),
    "conllu": ("# sent_id = s1\n# text = La casa del vecino\n"
               "1\tLa\tel\tDET\t_\t_\t2\tdet\t_\t_\n2\tcasa\tcasa\tNOUN\t_\t_\t0\troot\t_\t_\n"
               "3-4\tdel\t_\t_\t_\t_\t_\t_\t_\t_\n3\tde\tde\tADP\t_\t_\t5\tcase\t_\t_\n"
               "4\tel\tel\tDET\t_\t_\t5\tdet\t_\t_\n4.1\tes\tser\tAUX\t_\t_\t_\t_\t2:cop\t_\n"
               "5\tvecino\tvecino\tNOUN\t_\t_\t2\tnmod\t_\t_\n\n"
               "1\tHola\thola\tINTJ\t_\t_\t0\troot\t_\t_\n",
               "token", ["ADP", "DET", "INTJ", "NOUN"]),
    "squad_json": (json.dumps(SQUAD, ensure_ascii=False), "qa", None),
}  # fmt: skip


def local_config(
    tmp_path: Path, fmt: str, texts: dict[str, str | bytes], task: str, labels: list[str] | None
) -> dict:
    """A config with one dataset `d` whose splits are files written from `texts` (split -> file text or bytes)."""
    splits = {}
    for split, text in texts.items():
        path = tmp_path / f"{split}.src"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        splits[split] = {"path": str(path), "format": fmt}
    entry = {"task": task, "metric": "accuracy", "splits": splits}
    if labels:
        entry["labels"] = labels
    return {"datasets": {"d": entry}}


def one_split(tmp_path: Path, fmt: str, text: str | bytes) -> dict:
    _, task, labels = GOOD[fmt]
    return local_config(tmp_path, fmt, {"train": text}, task, labels)


def test_mldoc(tmp_path):
    frame = source_split(one_split(tmp_path, "mldoc_tsv", GOOD["mldoc_tsv"][0]), "d", "train")
    assert list(frame.columns) == ["id", "text", "label"]
    assert frame.id.tolist() == ["train-0", "train-1"]
    assert frame.label.tolist() == [0, 2]


def test_pawsx(tmp_path):
    frame = source_split(one_split(tmp_path, "pawsx_tsv", GOOD["pawsx_tsv"][0]), "d", "train")
    assert list(frame.columns) == ["id", "text", "text_pair", "label"]
    assert frame.id.tolist() == ["7", "8"] and frame.label.tolist() == [0, 1]
    assert frame.text_pair[1] == "A miró a B."


def test_xnli_keeps_spanish_rows(tmp_path):
    frame = source_split(one_split(tmp_path, "xnli_tsv", GOOD["xnli_tsv"][0]), "d", "train")
    assert frame.id.tolist() == ["11", "13"]
    assert frame.label.tolist() == [2, 0]
    assert frame.text_pair.tolist() == ["Nadie comió.", "Alguien comió."]


def test_conll2002(tmp_path):
    frame = source_split(one_split(tmp_path, "conll2002", GOOD["conll2002"][0]), "d", "train")
    assert frame.words.tolist() == [["Ana", "García", "vive"], ["en", "Lima"]]
    assert frame.tags.tolist() == [[1, 2, 0], [0, 3]]
    assert frame.id.tolist() == ["train-0", "train-1"]


def test_conll2002_with_pos_column(tmp_path):
    text = "-DOCSTART- -DOCSTART- O\n\nAna NP B-PER\nvive VMI O\n"
    frame = source_split(one_split(tmp_path, "conll2002", text), "d", "train")
    assert frame.words[0] == ["Ana", "vive"] and frame.tags[0] == [1, 0]


def test_conllu_skips_ranges_and_empty_nodes(tmp_path):
    frame = source_split(one_split(tmp_path, "conllu", GOOD["conllu"][0]), "d", "train")
    assert frame.id.tolist() == ["s1", "train-1"]
    assert frame.words[0] == ["La", "casa", "de", "el", "vecino"]
    assert frame.tags[0] == [1, 3, 0, 1, 3]


def test_squad(tmp_path):
    frame = source_split(one_split(tmp_path, "squad_json", GOOD["squad_json"][0]), "d", "train")
    row = frame.iloc[1]
    assert row.id == "q2" and row.context == CONTEXT
    assert row.words == ["Ana", "vive", "en", "Lima", "desde", "1990", "."]  # punctuation is a word of its own
    assert [CONTEXT[s : s + len(w)] for w, s in zip(row.words, row.word_offsets)] == row.words
    assert row.answers == {"text": ["1990", "desde 1990"], "answer_start": [23, 17]}


@pytest.mark.parametrize("fmt", list(GOOD))
def test_bom_and_crlf_read_as_plain_utf8(tmp_path, fmt):
    text = GOOD[fmt][0]
    plain = source_split(one_split(tmp_path, fmt, text), "d", "train")
    for variant in ["\ufeff" + text, text.replace("\n", "\r\n"), "\ufeff" + text.replace("\n", "\r\n")]:
        assert source_split(one_split(tmp_path, fmt, variant), "d", "train").equals(plain)


def test_conll2002_bom_before_docstart_adds_no_sentence(tmp_path):
    text = GOOD["conll2002"][0]
    assert text.startswith("-DOCSTART-")
    frame = source_split(one_split(tmp_path, "conll2002", "\ufeff" + text), "d", "train")
    assert frame.words.tolist() == [["Ana", "García", "vive"], ["en", "Lima"]]


def squad_with(answers: list[dict], context: str = CONTEXT) -> str:
    """A SQuAD file of one question with these answers."""
    qa = {"id": "q", "question": "¿Dónde?", "answers": answers}
    return json.dumps({"data": [{"title": "t", "paragraphs": [{"context": context, "qas": [qa]}]}]})


def test_squad_empty_and_negative_answers_are_removed(tmp_path):
    negative = 12 - len(CONTEXT)  # context[negative : negative + 4] is "Lima": slicing alone would accept it
    assert CONTEXT[negative : negative + 4] == "Lima"
    answers = [{"text": "", "answer_start": -1}, {"text": "Lima", "answer_start": negative},
               {"text": "en Lima", "answer_start": 9}]  # fmt: skip
    report = SplitReport()
    frame = source_split(one_split(tmp_path, "squad_json", squad_with(answers)), "d", "train", report)
    assert frame.answers[0] == {"text": ["en Lima"], "answer_start": [9]}
    assert (report.read, report.kept, dict(report.dropped)) == (1, 1, {})
    assert report.adjusted == {"answer removed: empty text": 1, "answer removed: negative answer_start": 1}


def test_squad_question_without_a_valid_answer_is_dropped(tmp_path):
    dropped = {"id": "x", "question": "¿?", "answers": [{"text": "", "answer_start": -1}]}
    squad = json.loads(GOOD["squad_json"][0])
    squad["data"][0]["paragraphs"][0]["qas"].insert(1, dropped)
    report = SplitReport()
    frame = source_split(one_split(tmp_path, "squad_json", json.dumps(squad)), "d", "train", report)
    assert frame.id.tolist() == ["q1", "q2"]
    assert (report.read, report.kept, dict(report.dropped)) == (3, 2, {"question without a valid answer": 1})
    assert report.adjusted == {}  # the removed answers of a dropped question are not counted again


def test_split_with_no_usable_row_is_refused(tmp_path):
    config = one_split(tmp_path, "squad_json", squad_with([{"text": "", "answer_start": -1}]))
    with pytest.raises(DataError, match=r"no row of split 'train' .* dropped 1 \(question without a valid answer\)"):
        source_split(config, "d", "train")


@pytest.mark.parametrize(
    ("text", "start", "snapped", "reasons"),
    [
        ("Lima", 12, "Lima", []),
        ("ima", 13, "Lima", ["start inside a word, moved to the word's start"]),
        ("desde 19", 17, "desde 1990", ["end inside a word, moved to the word's end"]),
        ("a desde", 15, "Lima desde", ["start inside a word, moved to the word's start"]),
        (" Lima ", 11, "Lima", ["whitespace trimmed"]),
        ("1990.", 23, "1990.", []),  # the full stop is a word of its own
        ("ma ", 14, "Lima", ["start inside a word, moved to the word's start", "whitespace trimmed"]),
    ],
)
def test_answers_inside_words_extend_to_word_boundaries(tmp_path, text, start, snapped, reasons):
    assert CONTEXT[start : start + len(text)] == text
    report = SplitReport()
    frame = source_split(one_split(tmp_path, "squad_json", squad_with([{"text": text, "answer_start": start}])), "d",
                       "train", report)  # fmt: skip
    assert frame.answers[0] == {"text": [snapped], "answer_start": [CONTEXT.index(snapped)]}
    assert report.adjusted == {reason: 1 for reason in reasons}


def test_squad_answer_of_whitespace_only_is_removed(tmp_path):
    report = SplitReport()
    answers = [{"text": " ", "answer_start": 3}, {"text": "Lima", "answer_start": 12}]
    frame = source_split(one_split(tmp_path, "squad_json", squad_with(answers)), "d", "train", report)
    assert frame.answers[0] == {"text": ["Lima"], "answer_start": [12]}
    assert report.adjusted == {"answer removed: no word in it": 1}


def test_snap_to_words_spans():
    context = "Ana vive en Lima."
    assert snap_to_words(context, 13, 15) == (12, 16)  # "im" -> "Lima"
    assert snap_to_words(context, 3, 4) is None  # a lone space touches no word
    assert snap_to_words(context, 16, 17) == (16, 17)  # "."


def test_xnli_report_counts_other_languages_as_dropped(tmp_path):
    report = SplitReport()
    source_split(one_split(tmp_path, "xnli_tsv", GOOD["xnli_tsv"][0]), "d", "train", report)
    assert (report.read, report.kept, dict(report.dropped)) == (3, 2, {"language is not es": 1})


BAD = [  # (format, file text, words the message must hold)
    ("mldoc_tsv", "CCAT\tbien\nXXXX\tmal\n", ["train.src:2", "unknown label 'XXXX'"]),
    ("mldoc_tsv", "CCAT sin tabulador\n", ["train.src:1", "expected 2 columns"]),
    ("mldoc_tsv", "\n\n", ["empty"]),
    ("pawsx_tsv", "id\tsentence1\tsentence2\tlabel\n1\ta\tb\t0\n1\tc\td\t1\n", ["train.src:3", "duplicate id '1'"]),
    ("pawsx_tsv", "id\tsentence1\tsentence2\tlabel\n1\ta\tb\n", ["train.src:2", "expected 4 columns"]),
    ("pawsx_tsv", "id\tsentence1\tlabel\n1\ta\t0\n", ["train.src:1", "sentence2"]),
    ("xnli_tsv", "\t".join(XNLI_COLUMNS) + "\n" + xnli_row("es", "maybe", "a", "b", "1") + "\n",
     ["train.src:2", "unknown label 'maybe'"]),
    ("conll2002", "Ana B-PER\nvive\n", ["train.src:2", "expected 2 columns"]),
    ("conll2002", "Ana NP B-PER\nvive O\n", ["train.src:2", "expected 3 columns"]),
    ("conll2002", "Ana B-PER\nvive B-XYZ\n", ["train.src:2", "unknown label 'B-XYZ'"]),  # the tag's own line
    ("conllu", GOOD["conllu"][0].replace("\tNOUN\t_\t_\t2\tnmod", "\tNOUM\t_\t_\t2\tnmod"),
     ["train.src:9", "unknown label 'NOUM'"]),
    ("conllu", "1\tHola\thola\tINTJ\t_\t_\t0\troot\t_\n", ["train.src:1", "expected 10 columns"]),
    ("mldoc_tsv", "CCAT\tbien\nGCAT\tnación\n".encode("latin-1"), ["train.src:2", "not valid UTF-8", "iconv"]),
    ("squad_json", json.dumps(SQUAD).replace('"answer_start": 12', '"answer_start": 13'), ["question 'q1'", "'Lima'"]),
    ("squad_json", '{"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "x"}]}]}]}', ["train.src", "'question'"]),
    ("squad_json", "{not json", ["train.src", "not SQuAD"]),
    ("squad_json", json.dumps(SQUAD).replace('"answer_start": 12', '"answer_start": "12"'), ["q1", "not an integer"]),
]  # fmt: skip


@pytest.mark.parametrize(("fmt", "text", "words"), BAD)
def test_bad_input_is_named(tmp_path, fmt, text, words):
    with pytest.raises(DataError) as error:
        source_split(one_split(tmp_path, fmt, text), "d", "train")
    assert all(word in str(error.value) for word in words), str(error.value)


def test_missing_file(tmp_path):
    config = one_split(tmp_path, "mldoc_tsv", "")
    config["datasets"]["d"]["splits"]["train"]["path"] = str(tmp_path / "nowhere.tsv")
    with pytest.raises(DataError, match=r"nowhere.tsv: file not found \(datasets.d.splits.train\)"):
        source_split(config, "d", "train")


def hub_config(task: str, labels: list[str] | None, columns: dict[str, str]) -> dict:
    splits = {s: {"hub": "org/set", "name": "es", "split": s} for s in ("train", "validation", "test")}
    entry = {"task": task, "metric": "accuracy", "columns": columns, "splits": splits}
    if labels:
        entry["labels"] = labels
    return {"datasets": {"d": entry}}


def test_unreachable_hub_says_how_to_use_local_files(monkeypatch):
    def unreachable(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    config = hub_config("classification", ["a", "b"], {"text": "t", "label": "l"})
    with pytest.raises(DataError) as error:
        source_split(config, "d", "validation")
    message = str(error.value)
    for part in ["'org/set'", "config 'es'", "split 'validation'", "no network",
                 "datasets.d.splits.validation: {path: FILE, format: FORMAT}", "mldoc_tsv"]:  # fmt: skip
        assert part in message, message


def mock_hub(monkeypatch, table: datasets.Dataset) -> list[tuple]:
    calls = []

    def load_dataset(hub, name, split):
        calls.append((hub, name, split))
        return table

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_class_labels_map_by_name(monkeypatch):
    features = datasets.Features(
        {"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
         "label": datasets.ClassLabel(names=["contradiction", "entailment", "neutral"])}
    )  # fmt: skip
    table = datasets.Dataset.from_dict({"premise": ["p", "q"], "hypothesis": ["h", "i"], "label": [0, 2]}, features)
    calls = mock_hub(monkeypatch, table)
    columns = {"text": "premise", "text_pair": "hypothesis", "label": "label"}
    config = hub_config("classification", ["entailment", "neutral", "contradiction"], columns)
    frame = source_split(config, "d", "test")
    assert calls == [("org/set", "es", "test")]
    assert frame.id.tolist() == ["test-0", "test-1"]
    assert frame.label.tolist() == [2, 1]
    assert frame.text_pair.tolist() == ["h", "i"]


def test_hub_plain_ints_are_ids_in_range(monkeypatch):
    mock_hub(monkeypatch, datasets.Dataset.from_dict({"t": ["x", "y"], "l": [1, 5]}))
    with pytest.raises(DataError, match=r"row 1: label 5 is not a label name nor an id below 2"):
        source_split(hub_config("classification", ["a", "b"], {"text": "t", "label": "l"}), "d", "train")


def test_hub_token_tags_drop_multiword_tokens(monkeypatch):
    features = datasets.Features(
        {"idx": datasets.Value("string"), "tokens": datasets.List(datasets.Value("string")),
         "upos": datasets.List(datasets.ClassLabel(names=["NOUN", "_", "ADP", "DET"]))}
    )  # fmt: skip
    rows = {"idx": ["s1"], "tokens": [["casa", "del", "de", "el", "río"]], "upos": [[0, 1, 2, 3, 0]]}
    mock_hub(monkeypatch, datasets.Dataset.from_dict(rows, features))
    config = hub_config("token", ["ADP", "DET", "NOUN"], {"id": "idx", "words": "tokens", "tags": "upos"})
    frame = source_split(config, "d", "train")
    assert frame.words[0] == ["casa", "de", "el", "río"]
    assert frame.tags[0] == [2, 0, 1, 2]


def test_hub_qa(monkeypatch):
    answers = [{"text": ["Lima"], "answer_start": [12]}]
    rows = {"id": ["a"], "question": ["¿Dónde?"], "context": [CONTEXT], "answers": answers}
    mock_hub(monkeypatch, datasets.Dataset.from_dict(rows))
    columns = {"id": "id", "question": "question", "context": "context", "answers": "answers"}
    frame = source_split(hub_config("qa", None, columns), "d", "train")
    assert frame.answers[0] == {"text": ["Lima"], "answer_start": [12]}
    assert frame.words[0][3] == "Lima" and frame.word_offsets[0][3] == 12


def test_hub_needs_columns(monkeypatch):
    mock_hub(monkeypatch, datasets.Dataset.from_dict({"t": ["x"]}))
    with pytest.raises(DataError, match=r"needs `columns` for \['label'\]"):
        source_split(hub_config("classification", ["a", "b"], {"text": "t"}), "d", "train")
    with pytest.raises(DataError, match=r"has no column\(s\) \['l'\]"):
        source_split(hub_config("classification", ["a", "b"], {"text": "t", "label": "l"}), "d", "train")


def test_prepare_dataset_round_trip(tmp_path):
    text, task, labels = GOOD["squad_json"]
    config = local_config(tmp_path, "squad_json", {s: text for s in ("train", "validation", "test")}, task, labels)
    out = tmp_path / "prepared"
    prepare(config, "d", out)
    files = sorted(p.name for p in out.iterdir())
    assert files == ["labels.json", "report.json", "test.parquet", "train.parquet", "validation.parquet"]
    assert json.loads((out / "labels.json").read_text()) == {"dataset": "d", "task": "qa", "labels": []}
    assert read_labels(out / "labels.json") == []
    split = read_split(out / "test.parquet")
    assert split.column_names == ["id", "question", "context", "words", "word_offsets", "answers"]
    assert split[1]["answers"] == {"text": ["1990", "desde 1990"], "answer_start": [23, 17]}


def test_prepare_dataset_classification_schema(tmp_path):
    text, task, labels = GOOD["mldoc_tsv"]
    config = local_config(tmp_path, "mldoc_tsv", {s: text for s in ("train", "validation", "test")}, task, labels)
    prepare(config, "d", tmp_path / "out")
    split = read_split(tmp_path / "out" / "train.parquet")
    assert split.column_names == ["id", "text", "label"]
    assert split["label"] == [0, 2]
    assert read_labels(tmp_path / "out" / "labels.json") == labels


def test_prepare_dataset_leaves_nothing_on_error(tmp_path):
    text, task, labels = GOOD["conll2002"]
    texts = {"train": text, "validation": text, "test": text + "\nmal XXX\n"}
    config = local_config(tmp_path, "conll2002", texts, task, labels)
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"test.src:10: unknown label 'XXX'"):
        prepare(config, "d", out)
    assert not out.exists() or not any(out.iterdir())


def test_prepare_dataset_writes_and_logs_its_report(tmp_path, caplog):
    text, task, labels = GOOD["xnli_tsv"]
    config = local_config(tmp_path, "xnli_tsv", {s: text for s in ("train", "validation", "test")}, task, labels)
    with caplog.at_level(logging.INFO, logger="speedy.data"):
        returned = prepare(config, "d", tmp_path / "out")
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report == returned.to_json()
    assert report["dataset"] == "d" and report["task"] == "classification"
    assert report["splits"]["validation"] == {"source": str(tmp_path / "validation.src"), "read": 3, "kept": 2,
                                              "dropped": {"language is not es": 1}, "adjusted": {}}  # fmt: skip
    logged = [r.getMessage() for r in caplog.records]
    assert f"d test ({tmp_path / 'test.src'}): read 3, kept 2, dropped 1 (language is not es)" in logged
