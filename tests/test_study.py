"""The KD study: jobs sharing a journal file (one killed), the results writer, the pruning callback, the distill switch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml
from optuna.trial import TrialState, create_trial

from speedy.study import JOB, StudyError, StudySettings, create_study, kd_settings, load_study, run_job, suggest_kd, write_results

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
DISTRIBUTIONS = {
    "alpha": optuna.distributions.FloatDistribution(0.0, 1.0),
    "temperature": optuna.distributions.FloatDistribution(1.0, 10.0),
    "loss": optuna.distributions.CategoricalDistribution(["kl", "ce", "mse"]),
}

# A study job in its own process: each trial reports two epochs; `hang` stops in the first one until killed.
WORKER = """
import sys, time
from speedy.study import StudySettings, run_job, suggest_kd

settings, job, hang = StudySettings.read(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "hang"

def objective(trial):
    kd = suggest_kd(trial)
    for epoch in (1, 2):
        trial.report(kd["alpha"] + 1 / epoch, step=epoch)
        if hang:
            time.sleep(600)
    return kd["alpha"] + 0.5

run_job(settings, job, objective)
"""


def settings_for(storage: Path | str, trials: int = 3, trials_per_job: int = 2) -> StudySettings:
    return StudySettings(name="kd-test", storage=str(storage), dataset="xnli", student="albeto-tiny", trials=trials,
                         trials_per_job=trials_per_job, epochs=2, batch_size=8, learning_rate=1e-3, pruner="median",
                         startup_trials=10, seed=7)  # fmt: skip


def by_job(study: optuna.Study) -> dict[int, list[str]]:
    states: dict[int, list[str]] = {}
    for trial in study.get_trials():
        states.setdefault(trial.user_attrs.get(JOB), []).append(trial.state.name)
    return states


def test_jobs_share_a_journal_and_a_killed_job_leaves_a_failed_trial(tmp_path):
    settings = settings_for(tmp_path / "journal.log")  # 3 trials: job 1 runs 2, job 2 runs 1
    create_study(settings, tmp_path / "study.json")
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    start = [sys.executable, str(worker), str(tmp_path / "study.json")]
    hanging = subprocess.Popen([*start, "2", "hang"], env=env)
    finishing = subprocess.Popen([*start, "1", "run"], env=env)
    try:
        deadline = time.monotonic() + 60
        while not any(t.user_attrs.get(JOB) == 2 and t.intermediate_values for t in load_study(settings).get_trials()):
            assert time.monotonic() < deadline and hanging.poll() is None, "job 2 never reported an epoch"
            time.sleep(0.2)
        hanging.kill()  # SIGKILL: nothing in the job can mark its trial
        assert finishing.wait(timeout=60) == 0
    finally:
        hanging.kill()
        finishing.kill()
    assert hanging.wait() == -9
    assert by_job(load_study(settings)) == {1: ["COMPLETE", "COMPLETE"], 2: ["RUNNING"]}

    # Job 2 starts again (a retry): its dead trial is marked FAIL and it runs its one trial afresh.
    trials = run_job(settings, 2, lambda trial: suggest_kd(trial)["alpha"])
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    rerun = run_job(settings, 1, lambda trial: pytest.fail("job 1 has no trial left to run"))
    assert [t.state for t in rerun] == [TrialState.COMPLETE] * 2

    write_results(load_study(settings), settings, tmp_path / "trials.csv", tmp_path / "best.json", tmp_path / "study.png")
    table = pd.read_csv(tmp_path / "trials.csv")
    assert table["state"].value_counts().to_dict() == {"COMPLETE": 3, "FAIL": 1}
    failed = table[table["state"] == "FAIL"].iloc[0]
    assert failed["job"] == 2 and failed["epochs"] == 1 and failed["validation_loss"] == pytest.approx(failed["alpha"] + 1)


def test_an_rdb_url_stores_the_study_too(tmp_path):
    settings = settings_for(f"sqlite:///{tmp_path / 'study.db'}", trials=2, trials_per_job=2)
    with pytest.raises(StudyError, match="is not in sqlite:///.*start it again"):
        load_study(settings)
    create_study(settings, tmp_path / "study.json")
    assert StudySettings.read(tmp_path / "study.json") == settings
    trials = run_job(settings, 1, lambda trial: suggest_kd(trial)["temperature"])
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2 and all(1.0 <= t.value <= 10.0 for t in trials)
    create_study(settings, tmp_path / "study.json")  # again: a fresh study, the earlier trials dropped
    assert load_study(settings).get_trials() == []


def hand_made_study() -> tuple[optuna.Study, StudySettings]:
    """Three complete trials (the second best), one pruned after an epoch, one failed, one left running by a dead job."""
    settings = settings_for(Path("unused"))
    study = optuna.create_study(study_name=settings.name, direction="minimize")

    def add(state, alpha, temperature, loss, losses, value=None):
        study.add_trial(create_trial(state=state, value=value, params={"alpha": alpha, "temperature": temperature, "loss": loss},
                                     distributions=DISTRIBUTIONS, intermediate_values=dict(enumerate(losses, start=1)),
                                     user_attrs={JOB: 1}))  # fmt: skip

    add(TrialState.COMPLETE, 0.5, 2.0, "kl", [0.9, 0.7], value=0.7)
    add(TrialState.COMPLETE, 0.0, 1.0, "kl", [0.8, 0.6, 0.65], value=0.6)
    add(TrialState.PRUNED, 0.9, 9.0, "mse", [1.4])
    add(TrialState.FAIL, 0.2, 3.0, "ce", [])
    add(TrialState.COMPLETE, 1.0, 5.0, "ce", [1.0, 0.95], value=0.95)
    orphan = study.ask(DISTRIBUTIONS)  # never told: it stays RUNNING, as when its job dies
    orphan.set_user_attr(JOB, 2)
    orphan.report(1.2, step=1)
    return study, settings


def test_results_list_every_trial_and_the_best_complete_one(tmp_path):
    study, settings = hand_made_study()
    best = write_results(study, settings, tmp_path / "trials.csv", tmp_path / "best.json", tmp_path / "study.png")
    table = pd.read_csv(tmp_path / "trials.csv")
    assert list(table.columns) == ["number", "state", "alpha", "temperature", "loss", "validation_loss", "epochs", "job"]
    assert table["state"].tolist() == ["COMPLETE", "COMPLETE", "PRUNED", "FAIL", "COMPLETE", "FAIL"]
    assert table["validation_loss"].tolist()[:3] == [0.7, 0.6, 1.4] and pd.isna(table["validation_loss"][3])
    assert table["epochs"].tolist() == [2, 3, 1, 0, 2, 1]
    assert table["loss"].tolist()[:5] == ["kl", "kl", "mse", "ce", "ce"]
    assert table["job"].tolist() == [1, 1, 1, 1, 1, 2]
    assert json.loads((tmp_path / "best.json").read_text()) == best
    assert best["trial"] == 1 and best["kd"] == {"alpha": 0.0, "temperature": 1.0, "loss": "kl"}
    assert best["validation_loss"] == 0.6 and best["epochs"] == 3
    assert best["trials"] == {"COMPLETE": 3, "PRUNED": 1, "FAIL": 2}
    assert set(best["importances"]) == {"alpha", "temperature", "loss"}
    assert (tmp_path / "study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_too_few_complete_trials_give_no_importances_and_none_is_an_error(tmp_path):
    study, settings = hand_made_study()
    few = optuna.create_study(direction="minimize")
    few.add_trials([t for t in study.get_trials() if t.number != 0 and t.number != 4])  # one complete trial
    best = write_results(few, settings, tmp_path / "trials.csv", tmp_path / "best.json", tmp_path / "study.png")
    assert best["importances"] is None and best["trial"] == 0 and (tmp_path / "study.png").stat().st_size > 0

    none = optuna.create_study(direction="minimize")
    none.add_trials([t for t in study.get_trials() if t.state != TrialState.COMPLETE])
    with pytest.raises(StudyError, match="no trial completed"):
        write_results(none, settings, tmp_path / "trials.csv", tmp_path / "best.json", tmp_path / "study.png")


def test_pruning_callback_reports_each_epoch_and_raises_when_told():
    from transformers import TrainerControl, TrainerState

    from speedy.study_trial import PruningCallback

    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=1.0))
    trial = study.ask()
    callback = PruningCallback(trial)
    callback.on_evaluate(None, TrainerState(epoch=1.0), TrainerControl(), metrics={"eval_loss": 0.8})
    callback.on_evaluate(None, TrainerState(epoch=2.0), TrainerControl(), metrics={"eval_loss": 0.9})
    with pytest.raises(optuna.TrialPruned, match="epoch 3"):
        callback.on_evaluate(None, TrainerState(epoch=3.0), TrainerControl(), metrics={"eval_loss": 1.5})
    assert study._storage.get_trial(trial._trial_id).intermediate_values == {1: 0.8, 2: 0.9, 3: 1.5}
    assert callback.best == 0.8


def test_job_trials_split_the_study():
    settings = settings_for(Path("unused"), trials=9, trials_per_job=4)
    assert settings.jobs == 3 and [settings.job_trials(j) for j in (1, 2, 3)] == [4, 4, 1]
    with pytest.raises(StudyError, match="job 4 is not one of its jobs 1..3"):
        settings.job_trials(4)


def test_distill_reads_the_best_settings_only_when_given(tmp_path):
    fixed = {"alpha": 0.0, "temperature": 1.0, "loss": "kl", "max_epochs": 6, "patience": 2}
    best = tmp_path / "best.json"
    best.write_text(json.dumps({"kd": {"alpha": 0.25, "temperature": 4.5, "loss": "mse"}}))
    assert kd_settings(fixed) == kd_settings(fixed, *[]) and kd_settings(fixed).loss == "kl"
    study = kd_settings(fixed, str(best))
    assert (study.alpha, study.temperature, study.loss) == (0.25, 4.5, "mse")


def dry_run(config: dict, targets: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run([SNAKEMAKE, "-n", "--quiet", "rules", "--forceall", "--nolock", *targets, "--configfile", str(path)],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip


STUDY_RULES = {"study_create", "study_trials", "study_collect"}


@pytest.mark.parametrize(
    ("settings_from", "pairs", "studied"),
    [("study", ["xnli/albeto-tiny"], True), ("study", ["pawsx/albeto-tiny", "xnli/albeto-base-3"], False),
     ("fixed", ["xnli/albeto-tiny"], False)],
)  # fmt: skip
def test_only_the_studied_pair_distils_from_the_study(settings_from, pairs, studied, tmp_path):
    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    config["distillation"]["settings_from"] = settings_from
    targets = [f"results/demo/grid/distill/{pair}/batch_size~16_learning_rate~0.002" for pair in pairs]
    run = dry_run(config, targets, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    planned = {line.split()[0] for line in run.stdout.splitlines() if line.strip()}
    assert "distill" in planned
    assert (STUDY_RULES <= planned) if studied else not (STUDY_RULES & planned)


def test_a_study_switch_without_a_study_stops_planning(tmp_path):
    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    config["distillation"]["settings_from"] = "study"
    del config["study"]
    run = dry_run(config, ["results/demo/teachers/xnli.json"], tmp_path)
    assert run.returncode != 0 and "settings_from: `study` needs a `study` block" in run.stdout + run.stderr
