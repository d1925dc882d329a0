"""End to end: the whole demo DAG, run offline in a fresh copy of the repository from an empty results folder, gives
every table and figure, sound published models, and the paper's findings in miniature.

Marked `e2e` (about 15 minutes on 2 cores); skip it with `make test-fast` or `pytest -m "not e2e"`. It never reads a
developer's own results/: Snakemake does not track src/speedy, so a run in place could pass on stale outputs.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text(encoding="utf-8"))
RESULTS = CONFIG["results"]
DATASETS = list(CONFIG["datasets"])
STUDENTS = CONFIG["students"]["tiny"] + [f"{CONFIG['students']['cut_from']}-{n}" for n in CONFIG["students"]["layers"]]
CUT_STUDENTS = [f"{CONFIG['students']['cut_from']}-{n}" for n in sorted(CONFIG["students"]["layers"])]
ABLATION = ["table5", "table6", "table7"]  # classification, token and QA: FT against KD per student
SKIPPED = {".git", ".venv", "results", ".snakemake", "__pycache__", ".pytest_cache"}
# Tolerances of the findings, in points of the main test metric (accuracy, F1), on 80 test examples per dataset.
# The selected teacher is chosen on validation loss, so on the test set it may trail a fine-tuned student by less than
# two of the 80 examples (2.5 points); the demo's WordPiece and Unigram vocabularies come from HF tokenizers' trainers,
# whose tie-breaking differs between processes, so that close cells move from run to run.
TEACHER_MARGIN = -2.5
BASE_N_NOISE = 1.0  # the global score of base-n may fall by at most this much from one n to the next

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The demo's results folder after `snakemake --profile profiles/demo` in a fresh copy of the repository."""
    base = tmp_path_factory.mktemp("e2e")
    repo, home, temp = base / "repo", base / "home", base / "tmp"
    shutil.copytree(ROOT, repo, ignore=lambda folder, names: {n for n in names if n in SKIPPED or n.endswith(".egg-info")})
    home.mkdir()
    temp.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HOME": str(home), "TMPDIR": str(temp)}
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    run = subprocess.run([snakemake, "--profile", "profiles/demo"], cwd=repo, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    (base / "written_outside").write_text("\n".join(str(p) for p in [*home.rglob("*"), *temp.rglob("*")]))
    return repo / RESULTS


def scores(demo: Path, kind: str, dataset: str, model: str) -> dict:
    return json.loads((demo / f"scores/{kind}/{dataset}/{model}.json").read_text(encoding="utf-8"))


def teacher(demo: Path, dataset: str) -> str:
    """The dataset's selected teacher: the first of its ranked teachers."""
    return json.loads((demo / f"teachers/{dataset}.json").read_text(encoding="utf-8"))["teachers"][0]["model"]


def main_score(demo: Path, kind: str, dataset: str, model: str) -> float:
    """The main test metric: accuracy, F1 or, for QA, the SQuAD F1."""
    test = scores(demo, kind, dataset, model)["test"]
    return test.get("f1", test.get("accuracy"))


# ------------------------------------------------------------------ outputs
def test_every_table_and_figure_exists(demo):
    tables = [f"table{n}" for n in range(1, 9)] + ["paper_vs_run", "multi_teacher", "frontier", "budget", "deploy", "environment"]
    for table in tables:
        for ext in ("csv", "md"):
            assert (demo / f"tables/{table}.{ext}").stat().st_size > 0, table
    for figure in ("figure1", "figure2"):
        for ext in ("png", "pdf"):
            assert (demo / f"figures/{figure}.{ext}").stat().st_size > 0


def test_nothing_is_written_outside_the_repository(demo):
    assert (demo.parents[2] / "written_outside").read_text() == ""


def test_table2_has_every_candidate_and_student_on_every_dataset(demo):
    table = pd.read_csv(demo / "tables/table2.csv")
    assert set(table.loc[table["method"] == "FT", "model"]) == set(CONFIG["candidates"])
    assert set(table.loc[table["method"] == "KD", "model"]) == set(STUDENTS)
    assert table[DATASETS].notna().all().all()


def test_paper_vs_run_compares_every_reported_figure(demo):
    table = pd.read_csv(demo / "tables/paper_vs_run.csv")
    assert {"paper", "run", "difference"} <= set(table.columns)
    assert table["paper"].notna().all() and table["run"].notna().any()
    assert (demo / "tables/paper_vs_run.md").read_text(encoding="utf-8").count(CONFIG["paper_vs_run_note"]) >= 1


def test_the_study_prunes_and_completes_trials(demo):
    study = CONFIG["study"]
    trials = pd.read_csv(demo / f"study/{study['dataset']}/{study['student']}/trials.csv")
    assert len(trials) == study["trials"]
    assert {"COMPLETE", "PRUNED"} <= set(trials["state"])


def test_teachers_are_the_lowest_validation_loss(demo):
    for dataset in DATASETS:
        losses = {m: scores(demo, "finetuned", dataset, m)["validation"]["selection_loss"] for m in CONFIG["candidates"]}
        assert teacher(demo, dataset) == min(losses, key=losses.get)


def test_published_models_hold_safe_weights_labels_and_a_card(demo):
    for kind, models in (("finetuned", CONFIG["candidates"] + STUDENTS), ("distilled", STUDENTS)):
        for dataset in DATASETS:
            for model in models:
                folder = demo / f"models/{kind}/{dataset}/{model}"
                assert (folder / "model.safetensors").exists()
                card = (folder / "README.md").read_text(encoding="utf-8")
                assert dataset in card and "validation" in card
                config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
                if CONFIG["datasets"][dataset]["task"] != "qa":
                    assert list(config["id2label"].values()) == CONFIG["datasets"][dataset]["labels"]
    assert not [p for p in (demo / "models").rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".pickle")]


def test_only_each_grids_best_point_keeps_weights_and_checkpoints_are_gone(demo):
    for grid in (demo / "grid").glob("*/*/*"):
        kept = [folder for folder in grid.glob("*/model") if (folder / "model.safetensors").exists()]
        assert len(kept) == 1, grid
    assert not [p for p in (demo / "checkpoints").rglob("*") if p.is_file()]


def test_cache_is_keyed_by_example_id(demo):
    for dataset in DATASETS:
        cache = pd.read_parquet(demo / f"cache/{dataset}/teacher1.parquet")
        data = pd.read_parquet(demo / f"data/{dataset}/train.parquet")
        assert sorted(cache["id"]) == sorted(data["id"])


# ------------------------------------------------------------------ the paper's findings in miniature
def test_each_teacher_beats_every_fine_tuned_student(demo):
    for dataset in DATASETS:
        best = main_score(demo, "finetuned", dataset, teacher(demo, dataset))
        for student in STUDENTS:
            assert best > main_score(demo, "finetuned", dataset, student) + TEACHER_MARGIN, (dataset, student)


def test_distillation_beats_fine_tuning_on_average_and_in_most_cells(demo):
    deltas = pd.concat([pd.read_csv(demo / f"tables/{t}.csv").filter(like=" Δ") for t in ABLATION], axis=1)
    cells = deltas.to_numpy().ravel()
    assert len(cells) == len(DATASETS) * len(STUDENTS)
    assert cells.mean() > 0, deltas
    assert (cells > 0).sum() > len(cells) / 2, deltas


def test_base_n_does_not_get_worse_with_n(demo):
    table = pd.read_csv(demo / "tables/table3.csv").set_index("model")["global score"]
    for fewer, more in zip(CUT_STUDENTS, CUT_STUDENTS[1:]):
        assert table[more] >= table[fewer] - BASE_N_NOISE, table


def test_students_are_smaller_and_faster_than_the_teachers(demo):
    table1 = pd.read_csv(demo / "tables/table1.csv").set_index("model")
    table3 = pd.read_csv(demo / "tables/table3.csv").set_index("model")
    teachers = {teacher(demo, dataset) for dataset in DATASETS} - set(STUDENTS)
    speedup = table3["speedup"].str.lstrip("x").astype(float)
    for student in STUDENTS:
        for model in teachers:
            assert speedup[student] > speedup[model], (student, model)
    assert table1.index.is_unique


# ------------------------------------------------------------------ published models through transformers' pipelines
def test_text_classification_pipeline_matches_the_workflow(demo):
    from transformers import pipeline

    data = pd.read_parquet(demo / "data/xnli/test.parquet")
    folder = demo / "models/finetuned/xnli/beto-cased"
    saved = json.loads((folder / "test_predictions.json").read_text(encoding="utf-8"))
    classify = pipeline("text-classification", model=str(folder), device="cpu")
    labels = CONFIG["datasets"]["xnli"]["labels"]
    inputs = [{"text": t, "text_pair": p} for t, p in zip(data["text"], data["text_pair"])]
    predicted = [labels.index(r["label"]) for r in classify(inputs, truncation=True, max_length=CONFIG["max_seq_length"])]
    assert predicted == [saved[i] for i in data["id"]]


def assert_pipeline_matches(demo: Path, dataset: str, pipeline_task: str, predict) -> None:
    """The demo's fine-tuned BETO and first distilled student on `dataset`: `predict(pipeline, test frame)` gives
    their saved test predictions, in the frame's order."""
    from transformers import pipeline

    data = pd.read_parquet(demo / f"data/{dataset}/test.parquet")
    for kind, model in (("finetuned", "beto-cased"), ("distilled", STUDENTS[0])):
        folder = demo / f"models/{kind}/{dataset}/{model}"
        saved = json.loads((folder / "test_predictions.json").read_text(encoding="utf-8"))
        assert predict(pipeline(pipeline_task, model=str(folder), device="cpu"), data) == [saved[i] for i in data["id"]]


def test_word_classification_pipeline_matches_the_workflow(demo):
    from speedy import word_pipeline

    def tags(tagger, data):
        return [[word["entity"] for word in tagger(list(words))] for words in data["words"]]

    assert_pipeline_matches(demo, "ner", word_pipeline.TASK, tags)


def test_question_answering_pipeline_matches_the_workflow(demo):
    from speedy import qa_pipeline

    def answers(qa, data):
        return [a["answer"] for a in qa([{"question": q, "context": c} for q, c in zip(data["question"], data["context"])])]

    assert_pipeline_matches(demo, "sqac", qa_pipeline.TASK, answers)


# ------------------------------------------------------------------ config edits re-run exactly what they affect
def planned_jobs(demo: Path, config: dict, tmp_path: Path) -> list[tuple[str, dict[str, str]]]:
    """The jobs a dry run plans after the finished demo, with the config replaced by `config`: (rule, wildcards)."""
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    run = subprocess.run([snakemake, "-n", "--profile", "profiles/demo", "--configfile", str(edited)],
                         cwd=demo.parents[1], env=env, capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:\n)", run.stdout):
        name = re.match(r"(?:local)?rule (\w+):\n", block)
        if name:
            wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.MULTILINE)
            pairs = [pair.split("=", 1) for pair in wildcards[1].split(", ")] if wildcards else []
            jobs.append((name[1], dict(pairs)))
    return jobs


def edited(change) -> dict:
    """A copy of the demo config with `change` applied to it."""
    config = copy.deepcopy(CONFIG)
    change(config)
    return config


def reordered(value, top: bool = True):
    """Every mapping with its keys in reverse order; the top-level `datasets` keep theirs (the tables' column order)."""
    if isinstance(value, dict):
        items = list(value.items())
        return {k: reordered(v, False) if not (top and k == "datasets") else {d: reordered(e, False) for d, e in v.items()}
                for k, v in reversed(items)}  # fmt: skip
    return [reordered(item, False) for item in value] if isinstance(value, list) else value


def test_the_same_config_with_its_keys_reordered_plans_nothing(demo, tmp_path):
    assert planned_jobs(demo, reordered(CONFIG), tmp_path) == []


def test_a_new_learning_rate_trains_only_the_new_grid_points(demo, tmp_path):
    def add_rate(config):
        config["finetune"]["grids"]["default"]["learning_rate"].append(1.0e-3)

    jobs = planned_jobs(demo, edited(add_rate), tmp_path)
    training = [w for rule, w in jobs if rule in ("finetune", "finetune_student")]
    assert training and all(float(w["learning_rate"]) == 1.0e-3 for w in training)
    assert not [rule for rule, _ in jobs if rule in ("prepare_data", "build_demo_model", "make_student")]


def test_qa_n_best_trains_no_classification_or_token_model(demo, tmp_path):
    def n_best(config):
        config["qa"]["n_best"] += 1

    jobs = planned_jobs(demo, edited(n_best), tmp_path)
    trained = {w["dataset"] for rule, w in jobs if rule in ("finetune", "finetune_student", "distill", "cache_teacher")}
    assert trained and all(CONFIG["datasets"][d]["task"] == "qa" for d in trained)


def test_distillation_epochs_retrain_no_candidate_and_rebuild_no_cache(demo, tmp_path):
    def epochs(config):
        config["distillation"]["max_epochs"] += 1

    rules = {rule for rule, _ in planned_jobs(demo, edited(epochs), tmp_path)}
    assert "distill" in rules and not rules & {"finetune", "finetune_student", "cache_teacher", "prepare_data"}


def test_reordered_labels_redo_that_dataset_from_its_preparation(demo, tmp_path):
    def reorder(config):
        config["datasets"]["ner"]["labels"].reverse()

    jobs = planned_jobs(demo, edited(reorder), tmp_path)
    assert ("prepare_data", {"dataset": "ner"}) in jobs
    assert {w["dataset"] for _, w in jobs if "dataset" in w} == {"ner"}
    assert {"finetune", "distill", "publish"} <= {rule for rule, _ in jobs}


def test_a_metric_rescores_that_dataset_without_training(demo, tmp_path):
    def metric(config):
        config["datasets"]["ner"]["metric"] = "pos_f1"

    jobs = planned_jobs(demo, edited(metric), tmp_path)
    assert ("publish", {"kind": "finetuned", "dataset": "ner", "model": "beto-cased"}) in jobs
    assert {w["dataset"] for _, w in jobs if "dataset" in w} == {"ner"}
    assert not {rule for rule, _ in jobs} & {"finetune", "finetune_student", "prepare_data"}
