"""Multi-teacher distillation: the combination of teacher rows against hand-computed values, the caches of k
teachers joined per example id, and the workflow's plan for k teachers."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from speedy.cache import CacheError, write_cache
from speedy.kd import combine_logits, combine_rows, kd_loss, teacher_weights
from speedy.tasks import Features, TaskSettings, make_task
from speedy.teacher import Teacher, cache_key, open_caches

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
EQUAL = np.array([0.5, 0.5])
log = np.log


def softmax(values, temperature=1.0):
    z = np.asarray(values, dtype=float) / temperature
    e = np.exp(z - z.max())
    return e / e.sum()


# ------------------------------------------------------------------ weights
def test_equal_weights_and_weights_by_selection_loss():
    assert teacher_weights([0.3, 0.9, 2.0], "equal").tolist() == pytest.approx([1 / 3] * 3)
    by_loss = teacher_weights([0.5, 1.5], "loss")  # exp(-0.5) : exp(-1.5)
    assert by_loss.tolist() == pytest.approx([1 / (1 + math.exp(-1)), math.exp(-1) / (1 + math.exp(-1))])
    assert teacher_weights([0.2, math.inf], "loss").tolist() == [1.0, 0.0]  # a QA teacher that scored no question
    with pytest.raises(ValueError, match="no teacher has a finite selection loss"):
        teacher_weights([math.inf, math.inf], "loss")
    with pytest.raises(ValueError, match="unknown teacher weighting 'rank'"):
        teacher_weights([0.2, 0.3], "rank")
    with pytest.raises(ValueError, match="one selection loss per teacher"):
        teacher_weights([0.2, math.nan], "equal")


# ------------------------------------------------------------------ the combination
def test_the_mean_of_the_teachers_probabilities():
    first, second = log([0.7, 0.2, 0.1]), log([0.1, 0.3, 0.6])  # normalised logits: the shift c is 0
    combined = combine_logits(np.stack([first, second]), EQUAL, 1.0)
    assert combined.tolist() == pytest.approx(log([0.4, 0.25, 0.35]).tolist())


def test_weights_by_loss_weigh_the_probabilities():
    first, second = log([0.7, 0.2, 0.1]), log([0.1, 0.3, 0.6])
    w = teacher_weights([0.5, 1.5], "loss")
    combined = combine_logits(np.stack([first, second]), w, 1.0)
    expected = w[0] * np.array([0.7, 0.2, 0.1]) + w[1] * np.array([0.1, 0.3, 0.6])
    assert softmax(combined).tolist() == pytest.approx(expected.tolist())
    assert combined.tolist() == pytest.approx(log(expected).tolist())


def test_copies_of_one_teacher_give_back_its_row():
    logits = np.array([[3.0, -1.0, 0.5], [0.0, 0.0, 7.0]])  # token task: [words, K]
    for temperature in (1.0, 2.5):
        combined = combine_logits(np.stack([logits, logits, logits]), np.array([0.2, 0.5, 0.3]), temperature)
        np.testing.assert_allclose(combined, logits, rtol=1e-12, atol=1e-12)


def test_at_temperature_t_the_kd_loss_sees_the_mean_of_the_tempered_probabilities():
    first, second = np.array([2.0, 0.0]), np.array([0.0, 2.0])
    combined = combine_logits(np.stack([first, second]), EQUAL, 2.0)
    # p_i = softmax(z_i / 2): (e, 1) / (e + 1) and its mirror, mean (1/2, 1/2); c = log(e + 1) for both
    assert combined.tolist() == pytest.approx([2 * (log(0.5) + log(math.e + 1))] * 2)
    mean = (softmax(first, 2.0) + softmax(second, 2.0)) / 2
    assert softmax(combined / 2.0).tolist() == pytest.approx(mean.tolist())  # what kd_loss takes from the row
    student = torch.tensor([[1.0, -1.0]])
    s_prob = softmax([1.0, -1.0], 2.0)
    expected = 4.0 * float((mean * (log(mean) - log(s_prob))).sum())  # T² · KL(p̄ ‖ softmax(s / T))
    assert kd_loss(student, torch.tensor(combined[None]), "kl", 2.0).item() == pytest.approx(expected, rel=1e-5)


def test_each_word_of_a_token_row_is_combined_on_its_own():
    first = log([[0.9, 0.1], [0.5, 0.5]])
    second = log([[0.3, 0.7], [0.1, 0.9]])
    combined = combine_logits(np.stack([first, second]), EQUAL, 1.0)
    np.testing.assert_allclose(combined, log([[0.6, 0.4], [0.3, 0.7]]), rtol=1e-12)


def test_a_word_one_teacher_lacks_takes_the_mean_of_the_teachers_that_have_it():
    # QA start logits over 4 context words; teacher A never saw word 1 whole, and nobody saw word 3 whole
    a = np.array([0.0, math.nan, 0.0, math.nan])  # (0.5, -, 0.5, -)
    b = np.concatenate([log([0.2, 0.6, 0.2]), [math.nan]])
    combined = combine_logits(np.stack([a, b]), EQUAL, 1.0)
    q = np.array([0.35, 0.6, 0.35])  # word 1 takes B's 0.6 alone; then renormalised by 1.3
    shift = 0.5 * log(2) + 0.5 * 0.0  # the teachers' mean logsumexp: A's is log 2, B's 0
    assert combined[:3].tolist() == pytest.approx((log(q / q.sum()) + shift).tolist())
    assert math.isnan(combined[3])
    weighted = combine_logits(np.stack([a, b]), np.array([0.75, 0.25]), 1.0)
    q = np.array([0.75 * 0.5 + 0.25 * 0.2, 0.6, 0.75 * 0.5 + 0.25 * 0.2])
    assert weighted[:3].tolist() == pytest.approx((log(q / q.sum()) + 0.75 * log(2)).tolist())


def test_combined_qa_rows_give_the_task_the_mean_distribution():
    """The combined row is a row the QA task takes: its targets over a window are log p̄ of the window's words."""
    task = make_task("qa", TaskSettings(max_seq_length=8, doc_stride=2))
    rows = [
        {"start_logits": [0.0, math.nan, 0.0], "end_logits": [1.0, 2.0, 3.0]},
        {"start_logits": log([0.2, 0.6, 0.2]).tolist(), "end_logits": [3.0, 2.0, 1.0]},
    ]
    combined = combine_rows(rows, task.teacher_columns(), EQUAL, 1.0)
    assert sorted(combined) == ["end_logits", "start_logits"] and isinstance(combined["start_logits"], list)
    positions = [-1, 0, 1, 2, -1]  # [CLS], three one-token context words, [SEP]
    features = Features(None, ["q"], [positions], [positions], [[None, (0, 1), (2, 3), (4, 5), None]])
    targets = task.teacher_targets([combined], features, [0], 5)
    start = torch.softmax(targets["start"][0, 1:4], -1).tolist()
    assert start == pytest.approx([0.35 / 1.3, 0.6 / 1.3, 0.35 / 1.3], rel=1e-6)
    end = torch.softmax(targets["end"][0, 1:4], -1).numpy()
    assert end.tolist() == pytest.approx(((softmax([1, 2, 3]) + softmax([3, 2, 1])) / 2).tolist(), rel=1e-6)


def test_rows_and_weights_must_match():
    task = make_task("classification", TaskSettings(max_seq_length=8), ["a", "b"])
    with pytest.raises(ValueError, match="2 teacher rows for 3 weights"):
        combine_rows([{"logits": [0, 1]}] * 2, task.teacher_columns(), np.ones(3) / 3, 1.0)


# ------------------------------------------------------------------ the caches of k teachers
def teacher(name: str, loss: float) -> Teacher:
    return Teacher(name, f"models/{name}", {}, loss, name * 8, "tok")


def test_the_caches_of_k_teachers_are_joined_per_example_id(tmp_path):
    task = make_task("classification", TaskSettings(max_seq_length=8), ["a", "b"])
    train = tmp_path / "train.parquet"
    train.write_bytes(b"prepared")
    examples = {"id": ["e1", "e2", "e3"]}
    first, second = teacher("beto", 0.4), teacher("roberta", 0.6)
    logits = {
        "beto": {"e1": log([0.8, 0.2]), "e2": log([0.5, 0.5]), "e3": log([0.1, 0.9])},
        "roberta": {"e1": log([0.4, 0.6]), "e2": log([0.9, 0.1]), "e3": log([0.3, 0.7])},
    }
    files = []
    for t, order in ((first, ["e1", "e2", "e3"]), (second, ["e3", "e1", "e2"])):  # rows stored in another order
        path = str(tmp_path / f"{t.model}.parquet")
        rows = [{"logits": logits[t.model][i].tolist()} for i in order]
        write_cache(path, order, rows, cache_key(t, train, task), task.teacher_columns())
        files.append(path)

    single = open_caches([first], task, files[:1], str(train), examples)
    assert single.rows(["e3"])[0]["logits"] == logits["beto"]["e3"].tolist()  # one teacher: its rows as cached
    joined = open_caches([first, second], task, files, str(train), examples)
    for i in examples["id"]:
        mean = (np.exp(logits["beto"][i]) + np.exp(logits["roberta"][i])) / 2
        assert joined.rows([i])[0]["logits"] == pytest.approx(log(mean).tolist())
    by_loss = open_caches([first, second], task, files, str(train), examples, weighting="loss")
    w = teacher_weights([0.4, 0.6], "loss")
    mean = w[0] * np.exp(logits["beto"]["e2"]) + w[1] * np.exp(logits["roberta"]["e2"])
    assert by_loss.rows(["e2"])[0]["logits"] == pytest.approx(log(mean).tolist())

    with pytest.raises(CacheError, match="roberta.parquet: teacher cache fingerprint mismatch"):
        open_caches([first, first], task, files, str(train), examples)  # each cache is checked against its teacher
    with pytest.raises(ValueError, match="2 teacher"):
        open_caches([first, second], task, files[:1], str(train), examples)


# ------------------------------------------------------------------ the workflow
def dry_run(config: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [SNAKEMAKE, "-n", "--quiet", "rules", "--forceall", "--nolock", "--configfile", str(path)],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip


def test_the_paper_config_with_two_teachers_plans_their_caches_and_students(tmp_path):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert config["distillation"]["teachers"] == 1  # the paper
    config["distillation"]["teachers"] = 2
    for grid in config["finetune"]["grids"].values():  # one fine-tuning grid point keeps planning fast
        grid.update({key: values[:1] for key, values in grid.items()})
    run = dry_run(config, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", run.stdout, re.MULTILINE)}
    assert jobs["cache_teacher"] == 8 * 2
    assert jobs["distill"] == 2 * 8 * 6 * 6  # the one-teacher grid and the two-teacher grid
    assert jobs["publish"] == 8 * 11 + 8 * 5 + 2 * 8 * 6
    assert jobs["table"] == 8 + 3 + 1  # Tables 1-8, frontier, budget, paper_vs_run, multi_teacher


def test_more_teachers_than_candidates_stop_planning(tmp_path):
    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    config["distillation"]["teachers"] = len(config["candidates"]) + 1
    run = dry_run(config, tmp_path)
    assert run.returncode != 0
    assert f"distillation.teachers: {len(config['candidates']) + 1} teachers, but only" in run.stdout + run.stderr
