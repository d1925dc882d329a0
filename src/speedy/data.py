"""Loading each dataset split (hub or local files) into the internal schema, and writing the prepared Parquet."""

from __future__ import annotations

import codecs
import dataclasses
import json
import logging
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from speedy.tasks import RecordError, task_type
from speedy.tasks.base import Record

LOG = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")
PAWSX_COLUMNS = ("id", "sentence1", "sentence2", "label")
XNLI_COLUMNS = (
    "language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
    "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre",
    "label1", "label2", "label3", "label4", "label5",
)  # fmt: skip
MULTIWORD_TAG = "_"  # the tag of a multiword token in the hub's Universal Dependencies loader
# A record (speedy.tasks.base.Record) holds internal fields with labels/tags still as names (or hub ints), and
# "where" (file:line or row). Token records from local files also carry "tag_where", the file:line of each tag.
# A reader marks a row that it reads but does not keep (an XNLI row in another language) with "drop", the reason.
UNITS = {
    "read, kept, dropped": "rows: sentences, sentence pairs or questions",
    "adjusted": "answers of the kept questions (QA only)",
}


class DataError(ValueError):
    """Bad input data: a missing or malformed file, an unknown label, a duplicate id or an unreachable hub split."""


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """One `datasets.*` entry of the config: its task type, label names, hub column mapping and split sources."""

    name: str
    task: str
    splits: Mapping[str, Mapping[str, Any]]
    labels: tuple[str, ...] = ()
    columns: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_entry(cls, name: str, entry: Mapping[str, Any]) -> DatasetSpec:
        """The spec of a config entry (the keys prepare_data reads; `metric` is not one of them)."""
        return cls(name, entry["task"], entry["splits"], tuple(entry.get("labels", ())), entry.get("columns", {}))


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


FORMAT_FIELDS = {  # the record fields each local format provides
    "mldoc_tsv": ("id", "text", "label"),
    "pawsx_tsv": ("id", "text", "text_pair", "label"),
    "xnli_tsv": ("id", "text", "text_pair", "label"),
    "conll2002": ("id", "words", "tags"),
    "conllu": ("id", "words", "tags"),
    "squad_json": ("id", "question", "context", "answers"),
}
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


SCRIPT_REFUSAL = "Dataset scripts are no longer supported"  # what datasets>=4 raises for a script-based hub repo
PARQUET_REVISION = "refs/convert/parquet"  # the Hub's auto-converted Parquet branch


def local_remedy(where: str) -> str:
    """How to replace a hub split by local files."""
    return (
        f"download the split's original files where the Hub can be reached and point the entry at them: "
        f"`{where}: {{path: FILE, format: FORMAT}}` with FORMAT one of {list(READERS)}"
    )


def hub_remedy(where: str) -> str:
    """The two ways around a hub split that does not load: the Parquet branch, or local files."""
    return (
        f"Either read the Hub's auto-converted Parquet branch: `revision: {PARQUET_REVISION}`, no `name`, and "
        f"`data_files: CONFIG/SPLIT/*.parquet` (one folder per config of the original repo); or {local_remedy(where)}."
    )


def _load_hub(spec: dict[str, Any], where: str) -> datasets.Dataset:
    """One hub split through datasets.load_dataset; any failure becomes one DataError with both remedies."""
    hub, name, hub_split, revision = spec["hub"], spec.get("name"), spec["split"], spec.get("revision")
    options: dict[str, Any] = {"revision": revision} if revision else {}
    if spec.get("data_files"):
        options["data_files"] = {hub_split: spec["data_files"]}  # the entry's files are this one split
    try:
        return datasets.load_dataset(hub, name, split=hub_split, **options)
    except Exception as error:  # noqa: BLE001 - any failure to reach or build the dataset gets the same remedies
        at = f", revision {revision!r}" if revision else ""
        script = SCRIPT_REFUSAL in str(error)
        raise DataError(
            f"{where}: could not load hub dataset {hub!r} (config {name!r}, split {hub_split!r}{at}): "
            f"{type(error).__name__}: {error}."
            + (" The repository is script-based, and datasets>=4 runs no dataset scripts." if script else "")
            + f" {hub_remedy(where)}"
        ) from error


def _read_hub(dataset: DatasetSpec, where: str, split: str) -> list[Record]:
    """The records of a hub split, columns renamed to the internal names and ClassLabel ints turned into names."""
    spec = dataset.splits[split]
    hub, name, hub_split = spec["hub"], spec.get("name"), spec["split"]
    columns = dataset.columns
    unmapped = [c for c in task_type(dataset.task).fields if c not in columns]
    if unmapped:
        raise DataError(f"{where}: a hub split needs `columns` for {unmapped} (internal name: source column)")
    table = _load_hub(spec, where)
    missing = sorted(source for source in columns.values() if source not in table.column_names)
    if missing:
        raise DataError(f"{where}: hub dataset {hub!r} has no column(s) {missing}; it has {table.column_names}")
    label_column = columns.get("label") or columns.get("tags")
    names = _class_names(table.features[label_column]) if label_column else None
    records = []
    for i, row in enumerate(table):
        record = {internal: row[source] for internal, source in columns.items()}
        record["id"] = str(record.get("id", f"{split}-{i}"))
        record["where"] = f"hub {hub} ({name or spec.get('data_files')}, {hub_split}) row {i}"
        if "label" in record:
            record["label"] = _named(record["label"], names)
        if "tags" in record:
            pairs = [(w, _named(t, names)) for w, t in zip(record["words"], record["tags"])]
            pairs = [(w, t) for w, t in pairs if t != MULTIWORD_TAG or MULTIWORD_TAG in dataset.labels]
            record["words"], record["tags"] = [w for w, _ in pairs], [t for _, t in pairs]
        records.append(record)
    return records


# ------------------------------------------------------------------ internal schema
def read_source_split(dataset: DatasetSpec, split: str, report: SplitReport | None = None) -> pd.DataFrame:
    """One split of a dataset's source (hub or local files) in the prepared schema of its task.

    `report` counts the rows read, kept and dropped and the values adjusted, per reason.
    """
    where = f"datasets.{dataset.name}.splits.{split}"
    spec = dataset.splits[split]
    source = spec.get("path") or f"hub {spec['hub']} ({spec.get('name') or spec.get('data_files')}, {spec['split']})"
    report = report if report is not None else SplitReport()
    report.source = str(source)
    if "hub" in spec:
        records = _read_hub(dataset, where, split)
        report.read += len(records)
    else:
        try:
            records = read_local(spec["path"], spec["format"], split, report)
        except DataError as error:
            raise DataError(f"{error} ({where})") from None
    if not records:
        raise DataError(f"{source}: split {split!r} of dataset {dataset.name!r} is empty ({where})")
    task = task_type(dataset.task)
    index = {label: i for i, label in enumerate(dataset.labels)}
    rows, seen = [], set()
    for record in records:
        if record["id"] in seen:
            raise DataError(f"{record['where']}: duplicate id {record['id']!r}")
        seen.add(record["id"])
        try:
            row = task.to_prepared(record, index, report)
        except RecordError as error:
            raise DataError(str(error)) from None
        if row is not None:
            rows.append(row)
    if not rows:
        raise DataError(f"{source}: no row of split {split!r} of dataset {dataset.name!r} is usable: {report.summary()}")
    report.kept = len(rows)
    return pd.DataFrame(rows)


def prepared_split(folder: str | Path, split: str) -> str:
    """The Parquet file of one split in a prepared dataset's folder (written by prepare_dataset)."""
    return os.path.join(folder, f"{split}.parquet")


def prepared_splits(folder: str | Path, splits: Sequence[str] = SPLITS) -> dict[str, str]:
    """The Parquet file of each of `splits` in a prepared dataset's folder, by split name."""
    return {split: prepared_split(folder, split) for split in splits}


def prepare_dataset(dataset: DatasetSpec, out_dir: str | Path) -> PrepareReport:
    """Write `{split}.parquet` for every split, `labels.json` and `report.json`; nothing unless all splits load.

    The report (rows read, kept and dropped, answers adjusted, per reason and split) also goes to the log.
    """
    report = PrepareReport(dataset.name, dataset.task, {split: SplitReport() for split in SPLITS})
    frames = {split: read_source_split(dataset, split, report.splits[split]) for split in SPLITS}
    schema = task_type(dataset.task).schema
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".prepare-", dir=out))
    try:
        for split, frame in frames.items():
            fields = pa.schema([f for f in schema if f.name in frame.columns])  # text_pair only where there are pairs
            pq.write_table(pa.Table.from_pandas(frame, schema=fields, preserve_index=False), prepared_split(staging, split))
        labels = {"dataset": dataset.name, "task": dataset.task, "labels": list(dataset.labels)}
        (staging / "labels.json").write_text(json.dumps(labels, indent=2) + "\n", encoding="utf-8")
        text = json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
        (staging / "report.json").write_text(text, encoding="utf-8")
        for file in staging.iterdir():
            os.replace(file, out / file.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for split, counts in report.splits.items():
        LOG.info("%s %s (%s): %s", dataset.name, split, counts.source, counts.summary())
    return report


def read_split(path: str | Path) -> datasets.Dataset:
    """A prepared split as a Hugging Face Dataset."""
    return datasets.Dataset(pq.read_table(str(path)))


def read_labels(path: str | Path) -> list[str]:
    """The label names (in id order) of a prepared dataset's labels.json."""
    return list(json.loads(Path(path).read_text(encoding="utf-8"))["labels"])
