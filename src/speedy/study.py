"""The KD hyper-parameter study: an Optuna study of alpha, T and the KD loss, run by jobs that share one storage.

The storage is a journal file (Optuna's `JournalStorage` on a `JournalFileBackend`) that jobs on any node of a
shared file system append to, or an RDB URL. Optuna's heartbeat, which fails the trials of dead workers, is
RDB-only (`JournalStorage` does not implement it), so the jobs own their trials instead: each trial records its
job, a job that starts again marks FAIL the trials it left RUNNING when it died, and the collecting step, which
runs once every job is done, marks FAIL whatever is still RUNNING.

Nothing here imports torch or transformers: the trials themselves are `speedy.study_trial`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, Trial, TrialState

if TYPE_CHECKING:
    from speedy.kd import KDSettings

log = logging.getLogger(__name__)

JOB = "job"  # the user attribute that names the job running a trial
LOSSES = ("kl", "ce", "mse")
COLUMNS = ["number", "state", "alpha", "temperature", "loss", "validation_loss", "epochs", "job"]
MIN_TRIALS_FOR_IMPORTANCE = 3  # complete trials below which parameter importances are not computed


class StudyError(RuntimeError):
    """A study that cannot give what is asked of it (no complete trial, a job out of range)."""


@dataclass(frozen=True)
class StudySettings:
    """One study: where it is stored, how many trials in how many jobs, the pruner and each trial's schedule."""

    name: str
    storage: str  # a journal file, or an RDB URL (anything with "://")
    dataset: str
    student: str
    trials: int
    trials_per_job: int
    epochs: int  # per trial, each one evaluated and reported to the pruner
    batch_size: int
    learning_rate: float
    pruner: str  # hyperband | median
    startup_trials: int  # random trials before TPE models the history (and before the median pruner prunes)
    seed: int

    @property
    def jobs(self) -> int:
        """How many jobs share the trials."""
        return math.ceil(self.trials / self.trials_per_job)

    def job_trials(self, job: int) -> int:
        """How many trials job `job` (1-based) runs: trials_per_job, fewer for the last job."""
        if not 1 <= job <= self.jobs:
            raise StudyError(f"study {self.name}: job {job} is not one of its jobs 1..{self.jobs}")
        return min(self.trials_per_job, self.trials - (job - 1) * self.trials_per_job)

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def read(cls, path: str | Path) -> StudySettings:
        return cls(**json.loads(Path(path).read_text()))


def log_to_root() -> None:
    """Send Optuna's messages (study created, trial finished or pruned) to the root logger, so to the job's log."""
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()


def open_storage(target: str) -> optuna.storages.BaseStorage:
    """An RDB storage for a URL, else a journal file storage (created with its folder when missing)."""
    if "://" in target:
        return optuna.storages.RDBStorage(target)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(target))


def make_pruner(settings: StudySettings) -> optuna.pruners.BasePruner:
    """Hyperband over 1..epochs, or the median rule once `startup_trials` trials are complete."""
    if settings.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=settings.epochs, reduction_factor=3)
    if settings.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=settings.startup_trials, n_warmup_steps=1)
    raise StudyError(f"study {settings.name}: unknown pruner {settings.pruner!r}; expected hyperband or median")


def make_sampler(settings: StudySettings, job: int) -> optuna.samplers.TPESampler:
    """A TPE sampler seeded per job, so that parallel jobs do not draw the same random start-up trials."""
    return optuna.samplers.TPESampler(seed=settings.seed + job, n_startup_trials=settings.startup_trials)


def create_study(settings: StudySettings, out: str | Path) -> None:
    """Start the study afresh in its storage (dropping an earlier one of the same name) and write its settings."""
    storage = open_storage(settings.storage)
    try:
        optuna.delete_study(study_name=settings.name, storage=storage)
        log.info("dropped the earlier study %s", settings.name)
    except KeyError:
        pass
    optuna.create_study(study_name=settings.name, storage=storage, direction="minimize")
    settings.write(out)


def load_study(settings: StudySettings, job: int = 0) -> optuna.Study:
    """The stored study, with the sampler of `job` and the configured pruner."""
    storage = open_storage(settings.storage)
    try:
        return optuna.load_study(study_name=settings.name, storage=storage, sampler=make_sampler(settings, job), pruner=make_pruner(settings))
    except KeyError:
        raise StudyError(f"study {settings.name} is not in {settings.storage}; start it again: "
                         f"snakemake --forcerun study_create (with the study's targets)") from None  # fmt: skip


def fail_orphans(study: optuna.Study, job: int | None = None) -> list[int]:
    """Mark FAIL the RUNNING trials of `job` (it is starting again, so they died with it), or all RUNNING trials
    (every job is done); return their numbers."""
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if job is None or trial.user_attrs.get(JOB) == job:
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            failed.append(trial.number)
    if failed:
        log.warning("study %s: trials %s were left RUNNING by a dead job; marked FAIL", study.study_name, failed)
    return failed


def suggest_kd(trial: Trial) -> dict[str, Any]:
    """The search space: alpha in [0, 1], T in [1, 10], the KD loss among kl, ce and mse."""
    return {
        "alpha": trial.suggest_float("alpha", 0.0, 1.0),
        "temperature": trial.suggest_float("temperature", 1.0, 10.0),
        "loss": trial.suggest_categorical("loss", list(LOSSES)),
    }


def run_job(settings: StudySettings, job: int, objective: Callable[[Trial], float]) -> list[FrozenTrial]:
    """Run the trials of one job that are not finished yet (a restarted job fails its orphans and runs the rest);
    return every trial of the job."""
    study = load_study(settings, job)
    fail_orphans(study, job)
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)) if t.user_attrs.get(JOB) == job]
    remaining = settings.job_trials(job) - len(done)
    log.info("study %s, job %d: %d trials done, %d to run", settings.name, job, len(done), remaining)

    def owned(trial: Trial) -> float:
        trial.set_user_attr(JOB, job)
        return objective(trial)

    if remaining > 0:
        study.optimize(owned, n_trials=remaining)
    return [t for t in study.get_trials() if t.user_attrs.get(JOB) == job]


def trial_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: its state, KD settings, lowest per-epoch validation loss and epochs run."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        losses = list(trial.intermediate_values.values())
        value = trial.value if trial.state == TrialState.COMPLETE else min(losses, default=math.nan)
        rows.append({"number": trial.number, "state": trial.state.name, **{k: trial.params.get(k) for k in ("alpha", "temperature", "loss")},
                     "validation_loss": value, "epochs": len(losses), "job": trial.user_attrs.get(JOB)})  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def importances(study: optuna.Study) -> dict[str, float] | None:
    """Each parameter's importance (Optuna's default evaluator) over the complete trials; None when too few."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        return None
    return {name: float(value) for name, value in optuna.importance.get_param_importances(study).items()}


def best_settings(study: optuna.Study, settings: StudySettings) -> dict[str, Any]:
    """What best.json holds: the best complete trial's KD settings and loss, the trial counts and the importances."""
    table = trial_table(study)
    if not (table["state"] == "COMPLETE").any():
        raise StudyError(f"study {settings.name} in {settings.storage}: no trial completed ({len(table)} trials: "
                         f"{table['state'].value_counts().to_dict()}); see the study_trials logs, add trials or use a gentler pruner")  # fmt: skip
    best = study.best_trial
    return {
        "dataset": settings.dataset,
        "student": settings.student,
        "study": settings.name,
        "trial": best.number,
        "kd": {"alpha": best.params["alpha"], "temperature": best.params["temperature"], "loss": best.params["loss"]},
        "validation_loss": best.value,
        "epochs": len(best.intermediate_values),
        "trials": {state: int((table["state"] == state).sum()) for state in ("COMPLETE", "PRUNED", "FAIL")},
        "importances": importances(study),
    }


def plot_study(table: pd.DataFrame, weights: dict[str, float] | None, title: str, out: str | Path) -> None:
    """The optimisation history (each trial's lowest validation loss by state, the best so far) beside each
    parameter's importance."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4), layout="constrained")
    history, importance = figure.subplots(1, 2, width_ratios=[3, 2])
    for state, marker in (("COMPLETE", "o"), ("PRUNED", "x"), ("FAIL", "v")):
        rows = table[table["state"] == state]
        if len(rows):
            history.scatter(rows["number"], rows["validation_loss"], marker=marker, label=f"{state.lower()} ({len(rows)})")
    complete = table[table["state"] == "COMPLETE"].sort_values("number")
    if len(complete):
        history.step(complete["number"], complete["validation_loss"].cummin(), where="post", color="black", label="best so far")
    history.set(xlabel="trial", ylabel="lowest validation loss", title="optimisation history")
    history.legend()
    importance.set_title("parameter importance")
    if weights:
        names = sorted(weights, key=weights.get)
        importance.barh(names, [weights[n] for n in names])
        importance.set_xlabel(f"importance over the {(table['state'] == 'COMPLETE').sum()} complete trials")
    else:
        importance.text(0.5, 0.5, f"needs at least {MIN_TRIALS_FOR_IMPORTANCE} complete trials", ha="center", va="center")
        importance.set_axis_off()
    figure.suptitle(title)
    figure.savefig(out, dpi=150)


def write_results(study: optuna.Study, settings: StudySettings, csv: str | Path, best_json: str | Path, plot: str | Path) -> dict[str, Any]:
    """Fail the orphans of dead jobs, then write trials.csv, best.json and the history/importance plot."""
    fail_orphans(study)
    table = trial_table(study)
    table.to_csv(csv, index=False)
    best = best_settings(study, settings)
    Path(best_json).write_text(json.dumps(best, indent=2))
    plot_study(table, best["importances"], f"KD study: {settings.student} on {settings.dataset}", plot)
    log.info("study %s: %s; best trial %d %s, validation loss %.4f", settings.name, best["trials"], best["trial"], best["kd"], best["validation_loss"])
    return best


def kd_settings(fixed: dict[str, Any], best_json: str | Path | None = None) -> KDSettings:
    """The KD settings of a distillation: the study's best when its best.json is given, else the config's fixed ones."""
    from speedy.kd import KDSettings

    source = json.loads(Path(best_json).read_text())["kd"] if best_json else fixed
    settings = KDSettings(float(source["alpha"]), float(source["temperature"]), str(source["loss"]))
    log.info("KD settings from %s: %s", best_json or "the config", settings)
    return settings
