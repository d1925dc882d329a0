"""One trial of the KD study: a short distillation from the cached teacher, pruned on its per-epoch validation loss."""

from __future__ import annotations

import math
import tempfile
from dataclasses import replace

import optuna
from transformers import TrainerCallback, set_seed

from speedy.kd import KDSettings
from speedy.models import load_task_model, load_tokenizer
from speedy.study import suggest_kd
from speedy.training import GridJob, featurize_split, make_trainer


class PruningCallback(TrainerCallback):
    """Reports each epoch's validation loss to an Optuna trial, keeps the lowest, and raises `optuna.TrialPruned`
    out of training when the trial's pruner says so."""

    def __init__(self, trial: optuna.Trial):
        self.trial = trial
        self.best = math.inf

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        epoch, loss = round(state.epoch), float(metrics["eval_loss"])
        self.best = min(self.best, loss)
        self.trial.report(loss, step=epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"epoch {epoch}: validation loss {loss:.4f}")


class DistillationObjective:
    """The study's objective in one job: the lowest per-epoch validation loss of a short distillation at the trial's
    KD settings. The tokenizer and the featurized train and validation splits are made once per job; every trial
    starts from the same student weights and seed, so that trials differ in their KD settings only."""

    def __init__(self, template: GridJob):
        self.template = template
        self.tokenizer = load_tokenizer(template.source, split_words=template.task.pre_split)
        self.train, self.validation = (featurize_split(template.task, self.tokenizer, template.splits[s]) for s in ("train", "validation"))

    def __call__(self, trial: optuna.Trial) -> float:
        job = replace(self.template, kd=KDSettings(**suggest_kd(trial)))
        set_seed(job.settings.seed)
        model = load_task_model(job.source, job.task.auto_model, job.task.labels)
        pruning = PruningCallback(trial)
        with tempfile.TemporaryDirectory(prefix="speedy-trial-") as scratch:
            make_trainer(job, self.tokenizer, model, self.train, self.validation, scratch, [pruning]).train()
        return pruning.best
