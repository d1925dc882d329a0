"""Loading each dataset split (hub or local files) into the internal schema, and writing the prepared Parquet."""

from __future__ import annotations

import bisect
import codecs
import dataclasses
import json
import logging
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

LOG = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")
PAWSX_COLUMNS = ("id", "sentence1", "sentence2", "label")
XNLI_COLUMNS = (
    "language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
    "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre",
    "label1", "label2", "label3", "label4", "label5",
)  # fmt: skip
REQUIRED_COLUMNS = {
    "classification": ("text", "label"),
    "token": ("words", "tags"),
    "qa": ("question", "context", "answers"),
}
MULTIWORD_TAG = "_"  # the tag of a multiword token in the hub's Universal Dependencies loader
# QA context words: runs of letters and digits, and each other visible character alone (as BERT's basic
# tokenizer splits). Answers then start and end on word boundaries ("Lima" in "en Lima."), which the
# per-word teacher outputs of distillation need.
CONTEXT_WORD = re.compile(r"\w+|[^\w\s]")

_ANSWERS = pa.struct([("text", pa.list_(pa.string())), ("answer_start", pa.list_(pa.int64()))])
SCHEMAS = {
    "classification": pa.schema(
        [("id", pa.string()), ("text", pa.string()), ("text_pair", pa.string()), ("label", pa.int64())]
    ),
    "token": pa.schema([("id", pa.string()), ("words", pa.list_(pa.string())), ("tags", pa.list_(pa.int64()))]),
    "qa": pa.schema(
        [
            ("id", pa.string()),
            ("question", pa.string()),
            ("context", pa.string()),
            ("words", pa.list_(pa.string())),
            ("word_starts", pa.list_(pa.int64())),
            ("answers", _ANSWERS),
        ]
    ),
}

# A raw record: internal fields with labels/tags still as names (or hub ints), plus "where" (file:line or row).
# Token records from local files also carry "tag_where", the file:line of each tag. A reader marks a row that it
# reads but does not keep (an XNLI row in another language) with "drop", the reason.
Record = dict[str, Any]
UNITS = {
    "read, kept, dropped": "rows: sentences, sentence pairs or questions",
    "adjusted": "answers of the kept questions (QA only)",
}


class DataError(ValueError):
    """Bad input data: a missing or malformed file, an unknown label, a duplicate id or an unreachable hub split."""


# ------------------------------------------------------------------ report
@dataclasses.dataclass
class SplitReport:
    """What preparing one split did: rows read and kept, rows dropped and answers adjusted, counted per reason."""

    source: str = ""
    read: int = 0
    kept: int = 0
    dropped: Counter[str] = dataclasses.field(default_factory=Counter)
    adjusted: Counter[str] = dataclasses.field(default_factory=Counter)

    def summary(self) -> str:
        """The counts in one line, each reason with its count."""
        parts = [f"read {self.read}", f"kept {self.kept}"]
        parts += [f"dropped {n} ({reason})" for reason, n in sorted(self.dropped.items())]
        parts += [f"adjusted {n} ({reason})" for reason, n in sorted(self.adjusted.items())]
        return ", ".join(parts)


@dataclasses.dataclass
class PrepareReport:
    """The split reports of one prepared dataset, as report.json and the job's log hold them."""

    dataset: str
    task: str
    splits: dict[str, SplitReport] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The content of report.json."""
        splits = {
            split: {"source": r.source, "read": r.read, "kept": r.kept,
                    "dropped": dict(sorted(r.dropped.items())), "adjusted": dict(sorted(r.adjusted.items()))}
            for split, r in self.splits.items()
        }  # fmt: skip
        return {"dataset": self.dataset, "task": self.task, "units": UNITS, "splits": splits}


# ------------------------------------------------------------------ local formats
def _text(path: Path) -> str:
    """A UTF-8 file's text without a leading byte order mark; a byte that is not UTF-8 is refused with its line."""
    data = path.read_bytes()
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - data.rfind(b"\n", 0, error.start)
        raise DataError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[error.start]:02x}, byte {column} of the line); convert "
            f"the file to UTF-8, e.g. `iconv -f latin1 -t utf-8` for a Latin-1 file"
        ) from None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """The numbered lines of a UTF-8 text file, without line endings (LF or CRLF)."""
    for number, line in enumerate(_text(path).split("\n"), start=1):
        yield number, line.removesuffix("\r")


def _columns(path: Path, number: int, line: str, sep: str | None, expected: int, what: str) -> list[str]:
    """The fields of one line, which must number `expected`."""
    fields = line.split(sep)
    if len(fields) != expected:
        raise DataError(f"{path}:{number}: expected {expected} columns ({what}), found {len(fields)}: {line[:80]!r}")
    return fields


def _read_mldoc(path: Path, split: str) -> list[Record]:
    """MLDoc: `label<TAB>text` per line."""
    records = []
    for number, line in _lines(path):
        if line.strip():
            label, text = _columns(path, number, line, "\t", 2, "label, text")
            records.append({"id": f"{split}-{len(records)}", "text": text, "label": label, "where": f"{path}:{number}"})
    return records


def _read_tsv(path: Path, required: tuple[str, ...]) -> Iterator[tuple[str, dict[str, str]]]:
    """Rows of a tab-separated file with a header line that names at least `required`, with where they are."""
    header: list[str] | None = None
    for number, line in _lines(path):
        if header is None:
            header = line.split("\t")
            missing = [c for c in required if c not in header]
            if missing:
                raise DataError(f"{path}:{number}: header lacks column(s) {missing}; found {header}")
        elif line.strip():
            fields = _columns(path, number, line, "\t", len(header), "as many as the header")
            yield f"{path}:{number}", dict(zip(header, fields))


def _read_pawsx(path: Path, split: str) -> list[Record]:
    """PAWS-X: header `id sentence1 sentence2 label`, label 0/1."""
    return [
        {"id": row["id"], "text": row["sentence1"], "text_pair": row["sentence2"], "label": row["label"], "where": at}
        for at, row in _read_tsv(path, PAWSX_COLUMNS)
    ]


def _read_xnli(path: Path, split: str) -> list[Record]:
    """XNLI dev/test: all languages in one file; the rows of other languages than Spanish are marked to drop."""
    records = []
    for where, row in _read_tsv(path, XNLI_COLUMNS):
        record = {"id": row["pairID"], "text": row["sentence1"], "text_pair": row["sentence2"],
                  "label": row["gold_label"], "where": where}  # fmt: skip
        if row["language"] != "es":
            record["drop"] = "language is not es"
        records.append(record)
    return records


def _sentences(path: Path) -> Iterator[tuple[int, list[tuple[int, str]]]]:
    """Blank-line separated blocks of lines: (first line number, [(number, line)])."""
    block: list[tuple[int, str]] = []
    for number, line in _lines(path):
        if line.strip():
            block.append((number, line))
        elif block:
            yield block[0][0], block
            block = []
    if block:
        yield block[0][0], block


def _read_conll2002(path: Path, split: str) -> list[Record]:
    """CoNLL-2002: `token tag` lines (or `token POS tag` throughout, as NLTK has it); `-DOCSTART-` skipped."""
    records, width = [], 0
    for start, block in _sentences(path):
        rows, lines = [], []
        for number, line in block:
            if not line.startswith("-DOCSTART-"):
                width = width or (3 if len(line.split()) == 3 else 2)
                rows.append(_columns(path, number, line, None, width, ["token, tag", "token, POS, tag"][width - 2]))
                lines.append(number)
        if rows:
            records.append({
                "id": f"{split}-{len(records)}", "words": [row[0] for row in rows], "tags": [row[-1] for row in rows],
                "where": f"{path}:{start}", "tag_where": [f"{path}:{number}" for number in lines],
            })  # fmt: skip
    return records


def _read_conllu(path: Path, split: str) -> list[Record]:
    """CoNLL-U: words and UPOS tags; comments, multiword-token ranges and empty nodes skipped."""
    records = []
    for start, block in _sentences(path):
        sent_id, words, tags, lines = None, [], [], []
        for number, line in block:
            if line.startswith("#"):
                match = re.match(r"#\s*sent_id\s*=\s*(.+?)\s*$", line)
                sent_id = match.group(1) if match else sent_id
                continue
            fields = _columns(path, number, line, "\t", 10, "CoNLL-U")
            if "-" in fields[0] or "." in fields[0]:
                continue
            words.append(fields[1])
            tags.append(fields[3])
            lines.append(number)
        if words:
            records.append({
                "id": sent_id or f"{split}-{len(records)}", "words": words, "tags": tags, "where": f"{path}:{start}",
                "tag_where": [f"{path}:{number}" for number in lines],
            })  # fmt: skip
    return records


def _read_squad(path: Path, split: str) -> list[Record]:
    """SQuAD v1.1 JSON: one record per question, its answers as written (see `_clean_answers`)."""
    text = _text(path)
    try:
        articles = json.loads(text)["data"]
        return [
            {
                "id": str(qa["id"]),
                "question": qa["question"],
                "context": paragraph["context"],
                "answers": {
                    "text": [answer["text"] for answer in qa["answers"]],
                    "answer_start": [answer["answer_start"] for answer in qa["answers"]],
                },
                "where": f"{path}: question {qa['id']!r}",
            }
            for article in articles
            for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]
        ]
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(f"{path}: not SQuAD v1.1 JSON ({type(error).__name__}: {error})") from error


READERS: dict[str, Callable[[Path, str], list[Record]]] = {
    "mldoc_tsv": _read_mldoc,
    "pawsx_tsv": _read_pawsx,
    "xnli_tsv": _read_xnli,
    "conll2002": _read_conll2002,
    "conllu": _read_conllu,
    "squad_json": _read_squad,
}


def read_local(path: str | Path, fmt: str, split: str = "train", report: SplitReport | None = None) -> list[Record]:
    """The raw records of a local file (labels as written) that it keeps; `report` counts the rows read and dropped."""
    path = Path(path)
    if fmt not in READERS:
        raise DataError(f"{path}: unknown format {fmt!r}; expected one of {list(READERS)}")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    records = READERS[fmt](path, split)
    report = report if report is not None else SplitReport()
    report.read += len(records)
    report.dropped.update(record["drop"] for record in records if "drop" in record)
    return [record for record in records if "drop" not in record]


# ------------------------------------------------------------------ hub
def _class_names(feature: Any) -> list[str] | None:
    """The names behind a ClassLabel feature (or a list of them); None for plain values."""
    inner = getattr(feature, "feature", feature)
    return list(inner.names) if isinstance(inner, datasets.ClassLabel) else None


def _named(value: Any, names: list[str] | None) -> Any:
    """A hub label as its ClassLabel name when there is one, else as it is."""
    return names[value] if names is not None and isinstance(value, int) and 0 <= value < len(names) else value


def _read_hub(entry: dict[str, Any], where: str, split: str) -> list[Record]:
    """The records of a hub split, columns renamed to the internal names and ClassLabel ints turned into names."""
    spec = entry["splits"][split]
    hub, name, hub_split = spec["hub"], spec.get("name"), spec["split"]
    columns = entry.get("columns", {})
    unmapped = [c for c in REQUIRED_COLUMNS[entry["task"]] if c not in columns]
    if unmapped:
        raise DataError(f"{where}: a hub split needs `columns` for {unmapped} (internal name: source column)")
    try:
        table = datasets.load_dataset(hub, name, split=hub_split)
    except Exception as error:  # noqa: BLE001 - any failure to reach or build the dataset gets the same hint
        raise DataError(
            f"{where}: could not load hub dataset {hub!r} (config {name!r}, split {hub_split!r}): "
            f"{type(error).__name__}: {error}. Where the Hub cannot be reached, download the split elsewhere and "
            f"point the entry at local files: `{where}: {{path: FILE, format: FORMAT}}` "
            f"with FORMAT one of {list(READERS)}."
        ) from error
    missing = sorted(source for source in columns.values() if source not in table.column_names)
    if missing:
        raise DataError(f"{where}: hub dataset {hub!r} has no column(s) {missing}; it has {table.column_names}")
    label_column = columns.get("label") or columns.get("tags")
    names = _class_names(table.features[label_column]) if label_column else None
    records = []
    for i, row in enumerate(table):
        record = {internal: row[source] for internal, source in columns.items()}
        record["id"] = str(record.get("id", f"{split}-{i}"))
        record["where"] = f"hub {hub} ({name}, {hub_split}) row {i}"
        if "label" in record:
            record["label"] = _named(record["label"], names)
        if "tags" in record:
            pairs = [(w, _named(t, names)) for w, t in zip(record["words"], record["tags"])]
            pairs = [(w, t) for w, t in pairs if t != MULTIWORD_TAG or MULTIWORD_TAG in entry.get("labels", [])]
            record["words"], record["tags"] = [w for w, _ in pairs], [t for _, t in pairs]
        records.append(record)
    return records


# ------------------------------------------------------------------ internal schema
def _label_id(value: Any, index: dict[str, int], where: str) -> int:
    """The id of a label given by name (looked up) or as an int id (range-checked)."""
    if isinstance(value, str):
        if value not in index:
            raise DataError(f"{where}: unknown label {value!r}; expected one of {list(index)}")
        return index[value]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(index):
        return value
    raise DataError(f"{where}: label {value!r} is not a label name nor an id below {len(index)}")


def _check_answers(record: Record) -> None:
    """Every gold answer must be non-empty and found at its answer_start (0 or more) in the context."""
    answers, context = record["answers"], record["context"]
    if not answers["text"] or len(answers["text"]) != len(answers["answer_start"]):
        raise DataError(f"{record['where']}: needs one answer_start per answer text, and at least one answer")
    for text, start in zip(answers["text"], answers["answer_start"]):
        found = context[start : start + len(text)] if start >= 0 else None
        if not text or found != text:
            raise DataError(f"{record['where']}: answer {text!r} is not at answer_start {start} (found {found!r})")


def snap_to_words(context: str, start: int, end: int) -> tuple[int, int] | None:
    """The span [start, end) of an answer in `context`, widened to whole context words (CONTEXT_WORD matches).

    The rule: an answer that starts or ends inside a context word is extended to that word's boundary, so that it
    covers every word it touches (answer "dos" in "forzados" becomes "forzados"); whitespace at its edges is
    trimmed. None when the span touches no word at all.
    """
    spans = [match.span() for match in CONTEXT_WORD.finditer(context)]
    first = bisect.bisect_right([word_end for _, word_end in spans], start)  # the first word ending after start
    last = bisect.bisect_left([word_start for word_start, _ in spans], end) - 1  # the last word starting before end
    if first > last:
        return None
    return spans[first][0], spans[last][1]


def _clean_answers(record: Record, report: SplitReport) -> Record | None:
    """A question without its non-answers and with its answers snapped to words; None when no answer is left.

    An answer whose text is empty or whose answer_start is negative is not an answer (TAR marks answers it could not
    align so): it is removed. A question left without answers is dropped, as SQuAD v1.1 scoring cannot score it.
    Every other answer must be at its answer_start; it is then snapped to whole words (see `snap_to_words`).
    """
    answers, context = record["answers"], record["context"]
    if len(answers["text"]) != len(answers["answer_start"]):
        raise DataError(f"{record['where']}: needs one answer_start per answer text")
    removed: Counter[str] = Counter()
    kept = []
    for text, start in zip(answers["text"], answers["answer_start"]):
        if isinstance(start, bool) or not isinstance(start, int):
            raise DataError(f"{record['where']}: answer_start {start!r} is not an integer")
        if not text:
            removed["answer removed: empty text"] += 1
        elif start < 0:
            removed["answer removed: negative answer_start"] += 1
        else:
            kept.append((text, start))
    if not kept:
        report.dropped["question without a valid answer"] += 1
        return None
    _check_answers({**record, "answers": {"text": [t for t, _ in kept], "answer_start": [s for _, s in kept]}})
    snapped = []
    for text, start in kept:
        span = snap_to_words(context, start, start + len(text))
        if span is None:
            removed["answer removed: no word in it"] += 1
            continue
        new_start, new_end = span
        removed.update(
            reason
            for reason, applies in [
                ("start inside a word, moved to the word's start", new_start < start),
                ("end inside a word, moved to the word's end", new_end > start + len(text)),
                ("whitespace trimmed", new_start > start or new_end < start + len(text)),
            ]
            if applies
        )
        snapped.append((context[new_start:new_end], new_start))
    if not snapped:
        report.dropped["question without a valid answer"] += 1
        return None
    report.adjusted.update(removed)
    return {**record, "answers": {"text": [t for t, _ in snapped], "answer_start": [s for _, s in snapped]}}


def _to_schema(record: Record, task: str, index: dict[str, int]) -> Record:
    """One record in the internal schema of `task`."""
    where = record["where"]
    if task == "classification":
        row = {"id": record["id"], "text": record["text"]}
        if "text_pair" in record:
            row["text_pair"] = record["text_pair"]
        return {**row, "label": _label_id(record["label"], index, where)}
    if task == "token":
        if len(record["words"]) != len(record["tags"]):
            raise DataError(f"{where}: {len(record['words'])} words but {len(record['tags'])} tags")
        tag_where = record.get("tag_where", [where] * len(record["tags"]))
        tags = [_label_id(tag, index, at) for tag, at in zip(record["tags"], tag_where)]
        return {"id": record["id"], "words": record["words"], "tags": tags}
    _check_answers(record)
    spans = list(CONTEXT_WORD.finditer(record["context"]))
    answers = record["answers"]
    return {
        "id": record["id"],
        "question": record["question"],
        "context": record["context"],
        "words": [m.group() for m in spans],
        "word_starts": [m.start() for m in spans],
        "answers": {"text": list(answers["text"]), "answer_start": [int(s) for s in answers["answer_start"]]},
    }


def load_split(
    config: dict[str, Any], dataset: str, split: str, report: SplitReport | None = None
) -> pd.DataFrame:
    """One split of a dataset in the internal schema of its task; `report` counts what was read, dropped, adjusted."""
    if dataset not in config["datasets"]:
        raise DataError(f"unknown dataset {dataset!r}; the config has {list(config['datasets'])}")
    entry = config["datasets"][dataset]
    where = f"datasets.{dataset}.splits.{split}"
    spec = entry["splits"][split]
    source = spec.get("path") or f"hub {spec['hub']} ({spec.get('name')}, {spec['split']})"
    report = report if report is not None else SplitReport()
    report.source = str(source)
    if "hub" in spec:
        records = _read_hub(entry, where, split)
        report.read += len(records)
    else:
        try:
            records = read_local(spec["path"], spec["format"], split, report)
        except DataError as error:
            raise DataError(f"{error} ({where})") from None
    if not records:
        raise DataError(f"{source}: split {split!r} of dataset {dataset!r} is empty ({where})")
    index = {label: i for i, label in enumerate(entry.get("labels", []))}
    rows, seen = [], set()
    for record in records:
        if record["id"] in seen:
            raise DataError(f"{record['where']}: duplicate id {record['id']!r}")
        seen.add(record["id"])
        if entry["task"] == "qa" and (record := _clean_answers(record, report)) is None:
            continue
        rows.append(_to_schema(record, entry["task"], index))
    if not rows:
        raise DataError(f"{source}: no row of split {split!r} of dataset {dataset!r} is usable: {report.summary()}")
    report.kept = len(rows)
    return pd.DataFrame(rows)


def _schema(task: str, frame: pd.DataFrame) -> pa.Schema:
    """The Parquet schema of a task's frame (text_pair only where the dataset has pairs)."""
    schema = SCHEMAS[task]
    return pa.schema([field for field in schema if field.name in frame.columns])


def prepare_dataset(config: dict[str, Any], dataset: str, out_dir: str | Path) -> PrepareReport:
    """Write `{split}.parquet` for every split, `labels.json` and `report.json`; nothing unless all splits load.

    The report (rows read, kept and dropped, answers adjusted, per reason and split) also goes to the log.
    """
    entry = config["datasets"][dataset]
    report = PrepareReport(dataset, entry["task"], {split: SplitReport() for split in SPLITS})
    frames = {split: load_split(config, dataset, split, report.splits[split]) for split in SPLITS}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".prepare-", dir=out))
    try:
        for split, frame in frames.items():
            table = pa.Table.from_pandas(frame, schema=_schema(entry["task"], frame), preserve_index=False)
            pq.write_table(table, staging / f"{split}.parquet")
        labels = {"dataset": dataset, "task": entry["task"], "labels": list(entry.get("labels", []))}
        (staging / "labels.json").write_text(json.dumps(labels, indent=2) + "\n", encoding="utf-8")
        text = json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
        (staging / "report.json").write_text(text, encoding="utf-8")
        for file in staging.iterdir():
            os.replace(file, out / file.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for split, counts in report.splits.items():
        LOG.info("%s %s (%s): %s", dataset, split, counts.source, counts.summary())
    return report


def read_split(path: str | Path) -> datasets.Dataset:
    """A prepared split as a Hugging Face Dataset."""
    return datasets.Dataset(pq.read_table(str(path)))


def read_labels(path: str | Path) -> list[str]:
    """The label names (in id order) of a prepared dataset's labels.json."""
    return list(json.loads(Path(path).read_text(encoding="utf-8"))["labels"])
