"""The preflight check of sources (offline, fake Hub, local files and folders) and hub loading errors."""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path
from types import SimpleNamespace

import datasets
import httpx2
import pandas as pd
import pytest
import yaml
from huggingface_hub import DatasetCardData
from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

from speedy import sources
from speedy.data import READERS, SCRIPT_REFUSAL, DataError
from speedy.sources import HEAD_LINES, HubLister, check_sources

from conftest import source_split

ROOT = Path(__file__).parents[1]
PAPER = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
CONLLU = "# sent_id = s1\n1\tLa\tel\tDET\t_\t_\t2\tdet\t_\t_\n2\tcasa\tcasa\tNOUN\t_\t_\t0\troot\t_\t_\n\n"
QUESTION = {"id": "q1", "question": "¿Dónde?", "answers": [{"text": "Lima", "answer_start": 3}]}
SQUAD = json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "en Lima.", "qas": [QUESTION]}]}]})


class FakeHub:
    """A stand-in for HfApi: repo_info answers from a dict, or raises what the dict holds; calls are counted."""

    def __init__(self, repos: dict) -> None:
        self.repos, self.calls = repos, []

    def repo_info(self, repo_id, repo_type=None, revision=None, timeout=None):
        self.calls.append((repo_id, repo_type, revision))
        answer = self.repos.get((repo_id, revision), ConnectionError("no network"))
        if isinstance(answer, Exception):
            raise answer
        files, card = answer
        siblings = [SimpleNamespace(rfilename=name) for name in files]
        return SimpleNamespace(siblings=siblings, card_data=DatasetCardData(**card) if card else None)


def not_found(kind: type[Exception]) -> Exception:
    request = httpx2.Request("GET", "https://huggingface.co/api/datasets/org/set")
    return kind("404 Client Error", response=httpx2.Response(404, request=request))


def hub_lister(monkeypatch, repos: dict) -> tuple[HubLister, FakeHub]:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(sources, "is_offline_mode", lambda: False)
    api = FakeHub(repos)
    return HubLister(api=api), api


# ------------------------------------------------------------------ offline, the paper config
def test_offline_paper_config_reports_every_hub_source_unreachable_with_its_remedy(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    asked = []

    def repo_info(*args, **kwargs):
        asked.append(args)
        raise ConnectionError("no network")

    monkeypatch.setattr(sources.HfApi, "repo_info", repo_info)
    start = time.perf_counter()
    table = check_sources(PAPER["models"], PAPER["datasets"])
    assert time.perf_counter() - start < 5
    assert asked == []  # offline: the Hub is not asked at all
    expected = [f"models.{m}.pretrained" for m in PAPER["models"]]
    expected += [f"datasets.{d}.splits.{s}" for d in PAPER["datasets"] for s in ("train", "validation", "test")]
    assert table.entry.tolist() == expected
    for row in table.itertuples():
        spec = PAPER["models"][row.entry.split(".")[1]] if row.kind == "model" else None
        if row.kind == "model":
            assert row.state == "unreachable" and f"hf download {spec['pretrained']}" in row.detail, row
            assert f"`{row.entry}: DIR`" in row.detail
            continue
        dataset, split = row.entry.split(".")[1], row.entry.split(".")[3]
        spec = PAPER["datasets"][dataset]["splits"][split]
        if "hub" in spec:
            assert row.state == "unreachable" and row.source.startswith(spec["hub"]), row
            assert row.revision == spec.get("revision", "")
            assert f"`{row.entry}: {{path: FILE, format: FORMAT}}`" in row.detail
            assert all(fmt in row.detail for fmt in READERS)
        else:
            assert row.state == ("ok" if Path(spec["path"]).is_file() else "missing"), row
    assert set(table.state) <= {"unreachable", "missing", "ok"}


def test_an_unreachable_hub_is_asked_once(monkeypatch):
    hub, api = hub_lister(monkeypatch, {})  # every request fails to connect
    models = {"a": {"pretrained": "org/a"}, "b": {"pretrained": "org/b"}}
    splits = {s: {"hub": "org/set", "name": "es", "split": s} for s in ("train", "validation", "test")}
    table = check_sources(models, {"d": {"splits": splits}}, hub)
    assert len(api.calls) == 1
    assert table.state.tolist() == ["unreachable"] * 5
    assert "ConnectionError: no network" in table.detail[4]


# ------------------------------------------------------------------ hub answers (fake Hub)
PARQUET = "refs/convert/parquet"
UD = "universal-dependencies/universal_dependencies"
UD_PARQUET = [f"es_ancora/{s}/0000.parquet" for s in ("train", "validation", "test")] + [".gitattributes"]


def test_hub_datasets(monkeypatch):
    repos = {
        (UD, None): (["README.md", "universal_dependencies.py"], None),
        (UD, PARQUET): (UD_PARQUET, None),
        ("org/cards", None): (["README.md", "es/train-00000-of-00001.parquet"], {"configs": [{"config_name": "es"}]}),
        ("org/gone", None): not_found(RepositoryNotFoundError),
        ("org/cards", "v9"): not_found(RevisionNotFoundError),
    }
    hub, api = hub_lister(monkeypatch, repos)
    remedies = [f"`revision: {PARQUET}`", "`datasets.d.splits.train: {path: FILE, format: FORMAT}`"]
    cases = [  # spec, state, parts of the detail
        ({"hub": UD, "name": "es_ancora", "split": "train"}, "invalid",
         ["universal_dependencies.py", SCRIPT_REFUSAL, *remedies]),
        ({"hub": UD, "revision": PARQUET, "data_files": "es_ancora/train/*.parquet", "split": "train"}, "ok",
         ["1 file"]),
        ({"hub": UD, "revision": PARQUET, "data_files": ["es_ancora/dev/*.parquet"], "split": "validation"},
         "missing", ["es_ancora/dev/*.parquet", *remedies]),
        ({"hub": UD, "revision": PARQUET, "name": "es_ancora", "split": "train"}, "invalid",
         ["drop `name`", "es_ancora/train/*.parquet"]),
        ({"hub": "org/cards", "name": "es", "split": "train"}, "ok", ["no loading script"]),
        ({"hub": "org/cards", "name": "fr", "split": "train"}, "missing", ["no config 'fr'", "['es']"]),
        ({"hub": "org/gone", "name": "es", "split": "train"}, "missing", ["'org/gone'", *remedies]),
        ({"hub": "org/cards", "revision": "v9", "split": "train"}, "missing", ["no revision 'v9'", *remedies]),
    ]  # fmt: skip
    for spec, state, parts in cases:
        row = sources.check_split("datasets.d.splits.train", spec, hub)
        assert row["state"] == state, (spec, row)
        assert all(part in row["detail"] for part in parts), (parts, row)
    assert len(api.calls) == 5  # one request per repository and revision


def test_hub_models(monkeypatch):
    repos = {
        ("org/full", None): (["config.json", "model.safetensors", "vocab.txt", "README.md"], None),
        ("org/no-weights", None): (["config.json", "vocab.txt"], None),
        ("org/no-tokenizer", None): (["config.json", "pytorch_model.bin"], None),
        ("org/gone", None): not_found(RepositoryNotFoundError),
    }
    hub, _ = hub_lister(monkeypatch, repos)
    states = {repo: sources.check_model("models.m.pretrained", repo, hub) for repo, _ in repos}
    assert states["org/full"]["state"] == "ok"
    assert states["org/no-weights"]["state"] == "invalid" and "weights" in states["org/no-weights"]["detail"]
    assert states["org/no-tokenizer"]["state"] == "invalid" and "tokenizer" in states["org/no-tokenizer"]["detail"]
    assert states["org/gone"]["state"] == "missing" and "`models.m.pretrained`" in states["org/gone"]["detail"]
    row = sources.check_model("models.m.pretrained", "results/students/absent", hub)
    assert row["state"] == "missing" and "not a hub repository id" in row["detail"]


# ------------------------------------------------------------------ local files and folders
def local_row(path: Path, fmt: str) -> dict:
    return sources.check_split("datasets.d.splits.train", {"path": str(path), "format": fmt}, HubLister())


def test_local_dataset_files(tmp_path):
    conllu = tmp_path / "ok.conllu"
    conllu.write_text(CONLLU, encoding="utf-8")
    row = local_row(conllu, "conllu")
    assert row["state"] == "ok" and "whole file parses as conllu (1 records)" in row["detail"]
    assert local_row(tmp_path / "absent.conllu", "conllu")["state"] == "missing"
    tsv = tmp_path / "pawsx.tsv"
    tsv.write_text("id\tsentence1\tsentence2\tlabel\n1\ta\tb\t0\n", encoding="utf-8")
    row = local_row(tsv, "conllu")  # a TSV declared as CoNLL-U
    assert row["state"] == "invalid" and row["detail"].startswith(f"{tsv}:1: expected 10 columns")
    assert local_row(tsv, "pawsx_tsv")["state"] == "ok"
    squad = tmp_path / "squad.json"
    squad.write_text(SQUAD, encoding="utf-8")
    assert local_row(squad, "squad_json")["detail"] == "parses whole as squad_json (1 questions)"
    squad.write_text('{"version": "1.1"}', encoding="utf-8")
    assert local_row(squad, "squad_json")["state"] == "invalid"
    empty = tmp_path / "empty.conllu"
    empty.write_text("", encoding="utf-8")
    assert local_row(empty, "conllu")["state"] == "invalid"


def test_a_large_squad_file_has_only_its_start_checked(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "SQUAD_PARSED_WHOLE", 10)  # bytes: every file here is "large"
    squad = tmp_path / "squad.json"
    squad.write_text(SQUAD[:-5], encoding="utf-8")  # cut: not JSON as a whole, but starts like SQuAD
    row = local_row(squad, "squad_json")
    assert row["state"] == "ok" and row["detail"].startswith("starts like SQuAD v1.1 JSON")
    squad.write_text('[{"question": "?"}]', encoding="utf-8")
    assert local_row(squad, "squad_json")["state"] == "invalid"


def test_only_the_head_of_a_large_file_is_parsed(tmp_path):
    good = CONLLU * (HEAD_LINES // CONLLU.count("\n"))  # HEAD_LINES lines of whole sentences
    path = tmp_path / "big.conllu"
    path.write_text(good + "not a conllu line\n", encoding="utf-8")  # line HEAD_LINES + 1: not parsed
    row = local_row(path, "conllu")
    assert row["state"] == "ok" and f"its first {HEAD_LINES} lines parse" in row["detail"]
    path.write_text("not a conllu line\n" + good, encoding="utf-8")
    row = local_row(path, "conllu")
    assert row["state"] == "invalid" and row["detail"].startswith(f"{path}:1:")  # the real file, not the copy


def model_folder(root: Path, *files: str) -> Path:
    root.mkdir()
    for name in files:
        (root / name).write_text("{}" if name.endswith(".json") else "x", encoding="utf-8")
    return root


def test_local_model_folders(tmp_path):
    def state(folder: Path) -> dict:
        return sources.check_model("models.m.pretrained", str(folder), HubLister())

    assert state(model_folder(tmp_path / "full", "config.json", "model.safetensors", "spiece.model"))["state"] == "ok"
    no_weights = state(model_folder(tmp_path / "no-weights", "config.json", "vocab.txt"))
    assert no_weights["state"] == "invalid" and "weights" in no_weights["detail"]
    no_tokenizer = state(model_folder(tmp_path / "no-tokenizer", "config.json", "pytorch_model.bin"))
    assert no_tokenizer["state"] == "invalid" and "tokenizer" in no_tokenizer["detail"]
    broken = model_folder(tmp_path / "broken", "config.json", "model.safetensors", "tokenizer.json")
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    assert "is not JSON" in state(broken)["detail"]


def test_main_writes_the_table_and_fails_unless_all_ok(tmp_path, capsys):
    folder = model_folder(tmp_path / "model", "config.json", "model.safetensors", "vocab.txt")
    split = tmp_path / "s.conllu"
    split.write_text(CONLLU, encoding="utf-8")
    splits = {s: {"path": str(split), "format": "conllu"} for s in ("train", "validation", "test")}
    config = {"models": {"m": {"pretrained": str(folder)}}, "datasets": {"d": {"splits": splits}}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert sources.main([str(path), "--out", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "sources.csv", keep_default_na=False)
    assert table.columns.tolist() == sources.COLUMNS and table.state.tolist() == ["ok"] * 4
    assert "| model " in (tmp_path / "out" / "sources.md").read_text(encoding="utf-8")
    assert "datasets.d.splits.test" in capsys.readouterr().out
    split.unlink()
    assert sources.main([str(path)]) == 1


# ------------------------------------------------------------------ loading a hub split
def hub_entry(spec: dict) -> dict:
    splits = {s: {**spec, "split": s} for s in ("train", "validation", "test")}
    entry = {"task": "classification", "metric": "accuracy", "labels": ["a", "b"], "splits": splits}
    return {"datasets": {"d": {**entry, "columns": {"text": "t", "label": "l"}}}}


def test_script_refusal_names_the_entry_and_both_remedies(monkeypatch):
    assert SCRIPT_REFUSAL in inspect.getsource(datasets.load)  # what the installed datasets raises

    def refuse(*args, **kwargs):  # as datasets/load.py does for a repo with a loading script
        raise RuntimeError(f"{SCRIPT_REFUSAL}, but found universal_dependencies.py")

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    with pytest.raises(DataError) as error:
        source_split(hub_entry({"hub": UD, "name": "es_ancora"}), "d", "validation")
    message = str(error.value)
    assert message.startswith("datasets.d.splits.validation: could not load hub dataset")
    for part in ["script-based", f"`revision: {PARQUET}`", "data_files: CONFIG/SPLIT/*.parquet",
                 "`datasets.d.splits.validation: {path: FILE, format: FORMAT}`", *READERS]:  # fmt: skip
        assert part in message, part


def test_revision_and_data_files_reach_load_dataset(monkeypatch):
    calls = []

    def load_dataset(path, name, **kwargs):
        calls.append((path, name, kwargs))
        return datasets.Dataset.from_dict({"t": ["x"], "l": [1]})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    spec = {"hub": UD, "revision": PARQUET, "data_files": "es_ancora/test/*.parquet"}
    assert source_split(hub_entry(spec), "d", "test").label.tolist() == [1]
    assert calls == [(UD, None, {"split": "test", "revision": PARQUET, "data_files": {"test": spec["data_files"]}})]
