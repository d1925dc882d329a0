"""End to end: the whole demo DAG runs offline, and its published models, tables and figure are right.

Marked `e2e`: it runs `snakemake --profile profiles/demo` in the repository (what `make demo` does; a
finished demo makes this quick). Skip it with `make test-fast` or `pytest -m "not e2e"`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
DATASETS = list(CONFIG["datasets"])
STUDENTS = CONFIG["students"]["tiny"] + [f"{CONFIG['students']['cut_from']}-{n}" for n in CONFIG["students"]["layers"]]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo():
    """Run the demo DAG to completion (offline) and return the repository root."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    run = subprocess.run([snakemake, "--profile", "profiles/demo"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-5000:]
    return ROOT


def scores(kind, dataset, model):
    return json.loads((ROOT / f"results/scores/{kind}/{dataset}/{model}.json").read_text())


def test_every_table_and_the_figure_exist(demo):
    for n in range(1, 9):
        assert (demo / f"results/tables/table{n}.csv").stat().st_size > 0
        assert (demo / f"results/tables/table{n}.md").stat().st_size > 0
    assert (demo / "results/figures/figure1.png").stat().st_size > 0
    assert (demo / "results/figures/figure1.pdf").stat().st_size > 0


def test_table2_has_every_candidate_and_student_on_every_dataset(demo):
    table = pd.read_csv(demo / "results/tables/table2.csv")
    assert set(table.loc[table["method"] == "FT", "model"]) == set(CONFIG["candidates"])
    assert set(table.loc[table["method"] == "KD", "model"]) == set(STUDENTS)
    assert table[DATASETS].notna().all().all()


def test_teachers_are_the_lowest_validation_loss(demo):
    for dataset in DATASETS:
        teacher = json.loads((demo / f"results/teachers/{dataset}.json").read_text())
        losses = {m: scores("finetuned", dataset, m)["validation"]["loss"] for m in CONFIG["candidates"]}
        assert teacher["model"] == min(losses, key=losses.get)
        assert (demo / teacher["path"] / "model.safetensors").exists()


def test_published_models_hold_weights_labels_and_a_card(demo):
    for kind, models in (("finetuned", CONFIG["candidates"] + STUDENTS), ("distilled", STUDENTS)):
        for dataset in DATASETS:
            for model in models:
                folder = demo / f"results/models/{kind}/{dataset}/{model}"
                assert (folder / "model.safetensors").exists()
                card = (folder / "README.md").read_text()
                assert dataset in card and "validation" in card
                config = json.loads((folder / "config.json").read_text())
                if CONFIG["datasets"][dataset]["task"] != "qa":
                    assert list(config["id2label"].values()) == CONFIG["datasets"][dataset]["labels"]


def test_the_demo_learns(demo):
    """Tiny random-init models on synthetic data: the teachers must still beat chance on classification."""
    for dataset in ("mldoc", "xnli"):
        teacher = json.loads((demo / f"results/teachers/{dataset}.json").read_text())
        assert scores("finetuned", dataset, teacher["model"])["test"]["accuracy"] > 100 / len(CONFIG["datasets"][dataset]["labels"]) + 10


def test_grid_weights_are_temporary(demo):
    assert not list((demo / "results/grid").glob("*/*/*/*/model"))


def test_cache_is_keyed_by_example_id(demo):
    for dataset in DATASETS:
        cache = pd.read_parquet(demo / f"results/cache/{dataset}/train.parquet")
        data = pd.read_parquet(demo / f"results/data/{dataset}/train.parquet")
        assert sorted(cache["id"]) == sorted(data["id"])


def test_kd_cache_benchmark_reports_its_ratios(demo):
    result = json.loads((demo / "results/bench/kd_cache.json").read_text())
    assert result["ratio_to_floor"] > 0 and result["nocache_over_cache"] > 0
    assert len(result["cached_kd_s"]) == CONFIG["distillation"]["timing"]["runs"]


def test_text_classification_pipeline_matches_the_workflow(demo):
    from transformers import pipeline

    data = pd.read_parquet(demo / "results/data/xnli/test.parquet")
    folder = demo / "results/models/finetuned/xnli/beto-cased"
    saved = json.loads((folder / "test_predictions.json").read_text())
    classify = pipeline("text-classification", model=str(folder), device="cpu")
    labels = CONFIG["datasets"]["xnli"]["labels"]
    inputs = [{"text": t, "text_pair": p} for t, p in zip(data["text"], data["text_pair"])]
    predicted = [labels.index(r["label"]) for r in classify(inputs, truncation=True, max_length=CONFIG["max_seq_length"])]
    assert predicted == [saved[i] for i in data["id"]]


def test_token_classification_pipeline_matches_the_workflow(demo):
    from transformers import pipeline

    data = pd.read_parquet(demo / "results/data/ner/test.parquet")
    folder = demo / "results/models/finetuned/ner/beto-cased"
    saved = json.loads((folder / "test_predictions.json").read_text())
    tagger = pipeline("token-classification", model=str(folder), device="cpu", ignore_labels=[])
    for example_id, words in zip(data["id"][:40], data["words"][:40]):
        text, starts = "", []
        for word in words:
            starts.append(len(text))
            text += word + " "
        by_start = {token["start"]: token["entity"] for token in tagger(text.strip())}
        assert [by_start[s] for s in starts] == saved[example_id]


def test_question_answering_pipeline_matches_the_workflow(demo):
    """QA models carry their own question-answering pipeline (transformers 5 ships none)."""
    from transformers import pipeline

    data = pd.read_parquet(demo / "results/data/sqac/test.parquet")
    for kind, model in (("finetuned", "beto-cased"), ("distilled", STUDENTS[0])):
        folder = demo / f"results/models/{kind}/sqac/{model}"
        saved = json.loads((folder / "test_predictions.json").read_text())
        qa = pipeline("question-answering", model=str(folder), trust_remote_code=True, device="cpu")
        answers = qa([{"question": q, "context": c} for q, c in zip(data["question"], data["context"])])
        assert [a["answer"] for a in answers] == [saved[i] for i in data["id"]]
