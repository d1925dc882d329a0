"""prepare_dataset on excerpts of real public files (tests/fixtures/data, see its README): counts, drops, quirks."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from speedy.data import DataError, DatasetSpec, prepare_dataset, prepared_splits, read_split
from speedy.tasks.qa import CONTEXT_WORD

FIXTURES = Path(__file__).parent / "fixtures" / "data"
UPOS = "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()
NER = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
SOURCES = {  # name -> (file, format, task, labels)
    "ancora": ("es_ancora-ud-test.excerpt.conllu", "conllu", "token", UPOS),
    "conll2002": ("esp.testb.excerpt", "conll2002", "token", NER),
    "tar": ("dev-v1.1-es_small.excerpt.json", "squad_json", "qa", None),
    "xquad": ("xquad.es.json", "squad_json", "qa", None),
    "pawsx": ("pawsx-de-dev_2k.excerpt.tsv", "pawsx_tsv", "classification", ["0", "1"]),
}
SPLITS = ("train", "validation", "test")
EMPTY = "answer removed: empty text"
NO_ANSWER = "question without a valid answer"


def prepare(out: Path, name: str, path: Path | None = None) -> dict:
    """prepare_dataset on one source (every split from the same file); the report.json it wrote."""
    file, fmt, task, labels = SOURCES[name]
    path = path or FIXTURES / file
    entry = {"task": task, "metric": "accuracy", "splits": {s: {"path": str(path), "format": fmt} for s in SPLITS}}
    if labels:
        entry["labels"] = labels
    prepare_dataset(DatasetSpec.from_entry(name, entry), out)
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def blocks(path: Path) -> list[list[str]]:
    """The blank-line separated blocks of a file, as lists of lines."""
    return [block.split("\n") for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8").strip())]


def squad_questions(path: Path) -> list[dict]:
    """Every question of a SQuAD file with its context."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return [{**qa, "context": p["context"]} for article in data for p in article["paragraphs"] for qa in p["qas"]]


def test_ancora_words_tags_and_a_sentence_longer_than_128_words(tmp_path):
    report = prepare(tmp_path, "ancora")
    path = FIXTURES / SOURCES["ancora"][0]
    sent_ids = [line.split("=", 1)[1].strip() for line in path.read_text().splitlines() if line.startswith("# sent_id")]
    word_lines = [line.split("\t") for block in blocks(path) for line in block if re.match(r"\d+\t", line)]
    for split in SPLITS:
        assert report["splits"][split] | {"source": None} == {
            "source": None, "read": len(sent_ids), "kept": len(sent_ids), "dropped": {}, "adjusted": {}
        }  # fmt: skip
    test = read_split(tmp_path / "test.parquet")
    assert test["id"] == sent_ids
    words = [w for sentence in test["words"] for w in sentence]
    assert words == [fields[1] for fields in word_lines]  # multiword tokens (3-4 del) give their words de, el
    assert {"del", "al"}.isdisjoint(words) and {"de", "el", "a"} <= set(words)
    assert [t for sentence in test["tags"] for t in sentence] == [UPOS.index(fields[3]) for fields in word_lines]
    assert max(len(sentence) for sentence in test["words"]) > 128


def test_conll2002_sentences_and_a_sentence_longer_than_128_words(tmp_path):
    report = prepare(tmp_path, "conll2002")
    sentences = blocks(FIXTURES / SOURCES["conll2002"][0])
    assert report["splits"]["test"]["read"] == report["splits"]["test"]["kept"] == len(sentences)
    test = read_split(tmp_path / "test.parquet")
    assert test["words"] == [[line.split()[0] for line in sentence] for sentence in sentences]
    assert test["tags"] == [[NER.index(line.split()[-1]) for line in sentence] for sentence in sentences]
    assert max(len(words) for words in test["words"]) > 128


def assert_clean_answers(split) -> None:
    """Every answer of a prepared QA split is non-empty, found at its start, and covers whole context words."""
    for row in split:
        context, answers = row["context"], row["answers"]
        ends = {start + len(word) for start, word in zip(row["word_offsets"], row["words"])}
        assert answers["text"], row["id"]
        for text, start in zip(answers["text"], answers["answer_start"]):
            assert text and start >= 0 and context[start : start + len(text)] == text, row["id"]
            assert start in row["word_offsets"] and start + len(text) in ends, (row["id"], text)


def test_tar_drops_empty_answers_and_snaps_answers_to_words(tmp_path):
    report = prepare(tmp_path, "tar")
    questions = squad_questions(FIXTURES / SOURCES["tar"][0])
    empty = sum(1 for q in questions for a in q["answers"] if a["text"] == "" and a["answer_start"] == -1)
    assert empty > 0
    for split in SPLITS:
        counts = report["splits"][split]
        assert counts["read"] == counts["kept"] == len(questions) and counts["dropped"] == {}
        assert counts["adjusted"][EMPTY] == empty
        assert counts["adjusted"]["start inside a word, moved to the word's start"] > 0
        assert counts["adjusted"]["end inside a word, moved to the word's end"] > 0
        assert counts["adjusted"]["whitespace trimmed"] > 0
        assert_clean_answers(read_split(tmp_path / f"{split}.parquet"))
    rows = {row["id"]: row for row in read_split(tmp_path / "test.parquet")}
    assert rows["56bea9923aeaaa14008c91b9"]["answers"]["text"] == ["oro"]  # its first two answers are empty
    assert rows["56beace93aeaaa14008c91e2"]["answers"]["text"] == ["los"]  # 'l' ends inside "los"
    assert rows["56bf4e1b3aeaaa14008c95c0"]["answers"]["text"] == ["la", "del", "del"]  # 'l' starts inside "del"
    assert rows["5725c0f289a1e219009abdf3"]["answers"]["text"] == ['"peines" - grupos de cilios'] + ["cilios"] * 2
    long = next(q for q in questions if q["id"] == "572753335951b619008f8854")
    assert len(long["question"]) > 200 and rows[long["id"]]["question"] == long["question"]


def test_a_question_without_a_valid_answer_is_dropped_in_every_split(tmp_path):
    data = json.loads((FIXTURES / SOURCES["tar"][0]).read_text(encoding="utf-8"))
    qa = data["data"][0]["paragraphs"][0]["qas"][0]
    qa["answers"] = [{"text": "", "answer_start": -1}, {"text": "Super Bowl", "answer_start": -5}]  # TAR-style
    path = tmp_path / "tar.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    report = prepare(tmp_path / "out", "tar", path)
    for split in SPLITS:
        counts = report["splits"][split]
        assert counts["dropped"] == {NO_ANSWER: 1} and counts["kept"] == counts["read"] - 1
        assert qa["id"] not in read_split(tmp_path / "out" / f"{split}.parquet")["id"]


def test_xquad_whole_file_gives_its_official_counts(tmp_path):
    report = prepare(tmp_path, "xquad")
    assert [report["splits"][s]["read"] for s in SPLITS] == [1190] * 3  # 1,190 questions (XQuAD README)
    assert [report["splits"][s]["kept"] for s in SPLITS] == [1190] * 3
    test = read_split(tmp_path / "test.parquet")
    assert len(set(test["context"])) == 240  # paragraphs
    data = json.loads((FIXTURES / "xquad.es.json").read_text(encoding="utf-8"))["data"]
    assert len(data) == 48  # articles
    assert_clean_answers(test)
    starts_inside = ends_inside = 0  # answers that start or end inside a context word, in the raw file
    for q in squad_questions(FIXTURES / "xquad.es.json"):
        spans = [m.span() for m in CONTEXT_WORD.finditer(q["context"])]
        for answer in q["answers"]:
            start, end = answer["answer_start"], answer["answer_start"] + len(answer["text"])
            starts_inside += any(s < start < e for s, e in spans)
            ends_inside += any(s < end < e for s, e in spans)
    assert report["splits"]["test"]["adjusted"] == {
        "start inside a word, moved to the word's start": starts_inside,
        "end inside a word, moved to the word's end": ends_inside,
    }


def test_pawsx_rows(tmp_path):
    report = prepare(tmp_path, "pawsx")
    lines = (FIXTURES / SOURCES["pawsx"][0]).read_text(encoding="utf-8").splitlines()[1:]
    assert report["splits"]["test"]["kept"] == len(lines)
    test = read_split(tmp_path / "test.parquet")
    assert test["id"] == [line.split("\t")[0] for line in lines]
    assert test["label"] == [int(line.split("\t")[3]) for line in lines]


@pytest.mark.parametrize("name", ["ancora", "conll2002", "tar", "pawsx"])
def test_bom_and_crlf_variants_give_identical_parquet(tmp_path, name):
    text = (FIXTURES / SOURCES[name][0]).read_text(encoding="utf-8")
    assert "\r" not in text and not text.startswith("\ufeff")
    variants = {"plain": text, "bom": "\ufeff" + text, "crlf": text.replace("\n", "\r\n")}
    variants["bom+crlf"] = "\ufeff" + variants["crlf"]
    if name == "conll2002":  # a BOM used to glue itself to -DOCSTART- and make it a sentence
        variants["bom+docstart"] = "\ufeff-DOCSTART- -DOCSTART- O\n\n" + text
    parquet = {}
    for variant, content in variants.items():
        path = tmp_path / f"{variant}.src"
        path.write_bytes(content.encode("utf-8"))
        prepare(tmp_path / variant, name, path)
        parquet[variant] = [(tmp_path / variant / f"{split}.parquet").read_bytes() for split in SPLITS]
    assert all(files == parquet["plain"] for files in parquet.values())


def test_a_latin1_byte_is_reported_with_its_line(tmp_path):
    text = (FIXTURES / SOURCES["conll2002"][0]).read_text(encoding="utf-8")
    line = next(n for n, content in enumerate(text.split("\n"), start=1) if not content.isascii())
    path = tmp_path / "latin1.txt"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(DataError, match=rf"latin1.txt:{line}: not valid UTF-8 .*iconv"):
        prepare(tmp_path / "out", "conll2002", path)


@pytest.mark.parametrize(("name", "column"), [("ancora", 3), ("conll2002", -1)])
def test_a_bad_tag_is_reported_at_its_line(tmp_path, name, column):
    lines = (FIXTURES / SOURCES[name][0]).read_text(encoding="utf-8").split("\n")
    starts = [n for n, line in enumerate(lines) if line and (n == 0 or not lines[n - 1])]
    number = starts[3] - 2  # (numbered from 1) a word near the end of the third sentence, not its first line
    sep = "\t" if name == "ancora" else " "
    fields = lines[number - 1].split(sep)
    fields[column] = "BAD-TAG"
    lines[number - 1] = sep.join(fields)
    path = tmp_path / "bad.src"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(DataError, match=rf"bad.src:{number}: unknown label 'BAD-TAG'"):
        prepare(tmp_path / "out", name, path)


@pytest.mark.parametrize("name", ["ancora", "tar"])
def test_a_short_fine_tune_through_the_workflow_on_real_files(tmp_path, data_demo, name):
    """prepare_data, then one training epoch and evaluation of a demo model on a real excerpt: AnCora's sentences
    longer than the window (every word gets one prediction), TAR's question longer than its maximum length."""
    from speedy.tasks import TaskSettings, make_task
    from speedy.training import GridJob, Schedule, TrainSettings, run_grid_job

    prepare(tmp_path / "data", name)
    _, _, task_name, labels = SOURCES[name]
    settings = TaskSettings(max_seq_length=64, doc_stride=16, max_question_length=16)
    task = make_task(task_name, settings, labels or [])
    job = GridJob(
        dataset=name, model="albeto-tiny", source=data_demo["models"]["albeto-tiny"]["pretrained"], task=task,
        settings=TrainSettings(seed=1, weight_decay=0.0, warmup_ratio=0.0, eval_batch_size=32, logging_steps=10),
        schedule=Schedule(batch_size=16, learning_rate=1e-3, epochs=1),
        splits=prepared_splits(tmp_path / "data"),
    )  # fmt: skip
    result = run_grid_job(job, str(tmp_path / "point"))
    assert math.isfinite(result["validation"]["loss"]) and math.isfinite(result["validation"]["selection_loss"])
    test = json.loads((tmp_path / "point" / "predictions.json").read_text(encoding="utf-8"))["test"]
    examples = read_split(tmp_path / "data" / "test.parquet")
    assert list(test["predictions"]) == examples["id"]
    if task_name == "token":
        assert [len(test["predictions"][i]) for i in examples["id"]] == [len(words) for words in examples["words"]]
