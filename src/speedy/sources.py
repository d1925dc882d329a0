"""Preflight check of every model and dataset source of a config, without downloading anything."""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from huggingface_hub import HfApi, is_offline_mode
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import validate_repo_id

from speedy.data import (
    PARQUET_REVISION,
    READERS,
    SCRIPT_REFUSAL,
    SPLITS,
    DataError,
    hub_remedy,
    local_remedy,
    read_local,
)

COLUMNS = ["kind", "entry", "source", "revision", "state", "detail"]
HUB_TIMEOUT_S = 10.0  # per Hub request
HEAD_LINES = 200  # lines of a line-based data file that are parsed
LONGEST_LINE = 1 << 20  # bytes; a longer line is cut and left out of the head
SQUAD_PARSED_WHOLE = 64 << 20  # bytes; a larger SQuAD JSON file only has its start checked
CONFIG_FILE = "config.json"
WEIGHT_FILES = (
    "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
)  # fmt: skip
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model", "vocab.json")


@dataclass
class Listing:
    """What the Hub says about one repository at one revision: its state and, when found, its files and card."""

    state: str
    detail: str = ""
    files: list[str] = field(default_factory=list)
    card: dict[str, Any] = field(default_factory=dict)


def hub_offline() -> bool:
    """Whether HF_HUB_OFFLINE is set, now or when huggingface_hub was imported."""
    return is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


class HubLister:
    """Hub repositories listed once per repository and revision, each request with a short timeout.

    Offline, or once the Hub could not be reached, no further request is made: every later source is unreachable.
    """

    def __init__(self, api: HfApi | None = None, timeout: float = HUB_TIMEOUT_S) -> None:
        self.api, self.timeout = api or HfApi(), timeout
        self.down = "offline mode (HF_HUB_OFFLINE is set)" if hub_offline() else ""
        self.listings: dict[tuple[str, str, str | None], Listing] = {}

    def __call__(self, repo_id: str, repo_type: str, revision: str | None) -> Listing:
        key = (repo_id, repo_type, revision)
        if key not in self.listings:
            self.listings[key] = self._ask(repo_id, repo_type, revision)
        return self.listings[key]

    def _ask(self, repo_id: str, repo_type: str, revision: str | None) -> Listing:
        try:
            validate_repo_id(repo_id)
        except HFValidationError as error:
            return Listing("missing", f"{repo_id!r} is not a hub repository id ({error})")
        if self.down:
            return Listing("unreachable", f"the Hub was not asked: {self.down}")
        try:
            info = self.api.repo_info(repo_id, repo_type=repo_type, revision=revision, timeout=self.timeout)
        except GatedRepoError:
            return Listing("unreachable", "gated repository: accept its conditions on the Hub, then `hf auth login`")
        except RepositoryNotFoundError:
            return Listing("missing", f"no {repo_type} repository {repo_id!r} on the Hub (or it is private)")
        except RevisionNotFoundError:
            return Listing("missing", f"{repo_type} repository {repo_id!r} has no revision {revision!r}")
        except HfHubHTTPError as error:
            return Listing("unreachable", f"the Hub answered with an error ({error})")
        except Exception as error:  # noqa: BLE001 - offline mode, DNS, connection refused, timeout: no Hub for us
            self.down = f"the Hub cannot be reached ({type(error).__name__}: {error})"
            return Listing("unreachable", self.down)
        card = info.card_data.to_dict() if info.card_data is not None else {}
        return Listing("ok", files=[sibling.rfilename for sibling in info.siblings or []], card=card)


def _row(kind: str, entry: str, source: str, revision: str | None, state: str, detail: str) -> dict[str, str]:
    """One row of the table."""
    return dict(zip(COLUMNS, [kind, entry, source, revision or "", state, detail]))


# ------------------------------------------------------------------ models
def _model_gaps(files: set[str]) -> list[str]:
    """What a model folder or repository lacks among config, weights and tokenizer files."""
    gaps = [] if CONFIG_FILE in files else [CONFIG_FILE]
    if not any(name in files for name in WEIGHT_FILES) and not any(name.endswith(".safetensors") for name in files):
        gaps.append("weights (model.safetensors or pytorch_model.bin)")
    if not any(name in files for name in TOKENIZER_FILES):
        gaps.append(f"tokenizer files (one of {', '.join(TOKENIZER_FILES)})")
    return gaps


def _check_local_model(where: str, folder: Path) -> dict[str, str]:
    """A model folder: config.json (valid JSON), weights and tokenizer files."""
    gaps = _model_gaps({path.name for path in folder.iterdir()})
    if gaps:
        return _row("model", where, str(folder), None, "invalid", f"{folder} lacks {'; '.join(gaps)}")
    try:
        json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        return _row("model", where, str(folder), None, "invalid", f"{folder / CONFIG_FILE} is not JSON ({error})")
    return _row("model", where, str(folder), None, "ok", "local folder with config, weights and tokenizer")


def _check_hub_model(where: str, repo_id: str, hub: HubLister) -> dict[str, str]:
    """A hub model: the repository exists and holds config, weights and tokenizer files."""
    listing = hub(repo_id, "model", None)
    if listing.state == "unreachable":
        remedy = f"Where the Hub can be reached: `hf download {repo_id} --local-dir DIR`, then set `{where}: DIR`."
        return _row("model", where, repo_id, None, "unreachable", f"{listing.detail}. {remedy}")
    if listing.state == "missing":
        detail = f"{listing.detail}, and no local folder {repo_id!r}. Set `{where}` to a hub model id or a folder."
        return _row("model", where, repo_id, None, "missing", detail)
    gaps = _model_gaps(set(listing.files))
    if gaps:
        return _row("model", where, repo_id, None, "invalid", f"the hub repository lacks {'; '.join(gaps)}")
    return _row("model", where, repo_id, None, "ok", "hub repository with config, weights and tokenizer")


def check_model(where: str, pretrained: str, hub: HubLister) -> dict[str, str]:
    """One model source: a local folder when one exists at that path, else a hub id."""
    folder = Path(pretrained)
    if folder.is_dir():
        return _check_local_model(where, folder)
    if folder.exists():
        return _row("model", where, pretrained, None, "invalid", f"{pretrained} is a file; a model is a folder")
    return _check_hub_model(where, pretrained, hub)


# ------------------------------------------------------------------ datasets
def _head(path: Path) -> tuple[bytes, bool]:
    """The first HEAD_LINES whole lines of a file, and whether they are the whole file."""
    lines = []
    with open(path, "rb") as stream:
        while len(lines) < HEAD_LINES:
            line = stream.readline(LONGEST_LINE)
            if not line:
                return b"".join(lines), True
            if len(line) == LONGEST_LINE and not line.endswith(b"\n"):
                break  # a cut line would not parse; the lines before it are checked
            lines.append(line)
        return b"".join(lines), not stream.read(1)


def _parse_head(path: Path, fmt: str) -> str:
    """Parse the start of a local file with its format's reader; how much was parsed, or a DataError."""
    if fmt == "squad_json":
        if path.stat().st_size > SQUAD_PARSED_WHOLE:
            with open(path, "rb") as stream:
                start = stream.read(LONGEST_LINE)
            if b'"data"' not in start or b'"paragraphs"' not in start:
                raise DataError(f"{path}: does not start like SQuAD v1.1 JSON ({{\"data\": [{{\"paragraphs\": ...)")
            return f"starts like SQuAD v1.1 JSON (over {SQUAD_PARSED_WHOLE >> 20} MiB: not parsed whole)"
        return f"parses whole as {fmt} ({len(read_local(path, fmt))} questions)"
    head, whole = _head(path)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        copy.write_bytes(head)
        try:
            records = read_local(copy, fmt)
        except DataError as error:
            raise DataError(str(error).replace(str(copy), str(path))) from None
    if whole and not records:
        raise DataError(f"{path}: no {fmt} records in the file")
    lines = head.count(b"\n")
    scope = "the whole file parses" if whole else f"its first {lines} lines parse"
    return f"{scope} as {fmt} ({len(records)} records)"


def _check_local_split(where: str, spec: dict[str, Any]) -> dict[str, str]:
    """A local split: the file exists and its first records parse in its declared format."""
    path, fmt = Path(spec["path"]), spec["format"]
    if fmt not in READERS:
        return _row("dataset", where, str(path), None, "invalid", f"unknown format {fmt!r}; one of {list(READERS)}")
    if not path.is_file():
        detail = f"no file {path}. Fetch the split's {fmt} file and set `{where}.path` to it."
        return _row("dataset", where, str(path), None, "missing", detail)
    try:
        return _row("dataset", where, str(path), None, "ok", _parse_head(path, fmt))
    except DataError as error:
        return _row("dataset", where, str(path), None, "invalid", str(error))


def _config_names(card: dict[str, Any]) -> list[str]:
    """The config names a hub dataset card declares (empty when it declares none)."""
    return [config.get("config_name", "default") for config in card.get("configs") or [] if isinstance(config, dict)]


def _check_hub_split(where: str, spec: dict[str, Any], hub: HubLister) -> dict[str, str]:
    """A hub split: repository and revision exist, no loading script, its data_files or config are there."""
    repo_id, name, revision = spec["hub"], spec.get("name"), spec.get("revision")
    source = " ".join([repo_id, *[f"{key}={spec[key]}" for key in ("name", "split", "data_files") if spec.get(key)]])

    def row(state: str, detail: str) -> dict[str, str]:
        return _row("dataset", where, source, revision, state, detail)

    listing = hub(repo_id, "dataset", revision)
    if listing.state == "unreachable":
        return row("unreachable", f"{listing.detail}. To run without the Hub, {local_remedy(where)}.")
    if listing.state == "missing":
        return row("missing", f"{listing.detail}. {hub_remedy(where)}")
    script = f"{repo_id.split('/')[-1]}.py"
    if script in listing.files:
        refusal = f"script-based repository ({script}): {SCRIPT_REFUSAL} in datasets>=4"
        return row("invalid", f"{refusal}. {hub_remedy(where)}")
    if revision == PARQUET_REVISION and name not in (None, "default"):
        detail = f"the Parquet branch has one config, 'default': drop `name` and pick {name!r} by its `data_files`"
        return row("invalid", f"{detail} ({name}/{spec['split']}/*.parquet)")
    patterns = spec.get("data_files") or []
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    if patterns:
        matches = {p: fnmatch.filter(listing.files, p) for p in patterns if not p.startswith("hf://")}
        unmatched = [p for p, files in matches.items() if not files]
        if unmatched:
            at = revision or "main"
            return row("missing", f"no file of {repo_id}@{at} matches data_files {unmatched}. {hub_remedy(where)}")
        unchecked = " (hf:// paths not checked)" if len(matches) < len(patterns) else ""
        return row("ok", f"data_files match {sum(map(len, matches.values()))} file(s){unchecked}")
    configs = _config_names(listing.card)
    if name and configs and name not in configs:
        return row("missing", f"{repo_id} has no config {name!r}; its configs: {configs}")
    return row("ok", f"dataset repository found ({len(listing.files)} files, no loading script)")


def check_split(where: str, spec: dict[str, Any], hub: HubLister) -> dict[str, str]:
    """One dataset split source: local files or a hub split."""
    return _check_hub_split(where, spec, hub) if "hub" in spec else _check_local_split(where, spec)


def check_sources(models: dict[str, Any], datasets: dict[str, Any], hub: HubLister | None = None) -> pd.DataFrame:
    """One row per model and dataset source of a config (its `models` and `datasets` sections), nothing downloaded."""
    hub = hub or HubLister()
    rows = [check_model(f"models.{m}.pretrained", entry["pretrained"], hub) for m, entry in models.items()]
    rows += [
        check_split(f"datasets.{d}.splits.{split}", entry["splits"][split], hub)
        for d, entry in datasets.items()
        for split in SPLITS
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def write_report(table: pd.DataFrame, out_dir: str | Path) -> tuple[Path, Path]:
    """The table as `sources.csv` and `sources.md` in `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "sources.csv", out / "sources.md"
    table.to_csv(csv_path, index=False)
    md_path.write_text(table.to_markdown(index=False) + "\n", encoding="utf-8")
    return csv_path, md_path


def main(argv: list[str] | None = None) -> int:
    """`python -m speedy.sources CONFIG.yaml [--out DIR]`: print the table; exit 1 unless every source is ok."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config", type=Path, help="workflow config (YAML)")
    parser.add_argument("--out", type=Path, help="folder for sources.csv and sources.md")
    args = parser.parse_args(argv)
    config = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    table = check_sources(config["models"], config["datasets"])
    print(table.to_markdown(index=False))
    if args.out:
        write_report(table, args.out)
    states = table.state.value_counts().to_dict()
    print(f"\n{len(table)} sources: {states}", file=sys.stderr)
    return 0 if set(states) <= {"ok"} else 1


if __name__ == "__main__":
    sys.exit(main())
