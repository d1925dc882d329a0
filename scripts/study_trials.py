"""Run one job's trials of a KD study: short distillations from the cached teacher, pruned per epoch (rule study_trials)."""

import json
import logging
from pathlib import Path

import torch

from speedy.data import prepared_split, prepared_splits, read_split
from speedy.logs import log_to
from speedy.study import StudySettings, log_to_root, run_job
from speedy.study_trial import DistillationObjective
from speedy.tasks import task_from_params
from speedy.teacher import open_caches, read_teachers
from speedy.training import GridJob, Schedule, TrainSettings

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    log_to_root()
    torch.set_num_threads(smk.threads)
    settings = StudySettings.read(smk.input.study)
    teacher = read_teachers(smk.input.teachers)[0]
    task = task_from_params(smk.params.task)
    train = prepared_split(smk.input.data, "train")
    template = GridJob(
        dataset=settings.dataset,
        model=settings.student,
        source=smk.params.source,
        task=task,
        settings=TrainSettings(**smk.params.train),
        schedule=Schedule(settings.batch_size, settings.learning_rate, settings.epochs),
        splits=prepared_splits(smk.input.data, ("train", "validation")),
        teacher=open_caches([teacher], task, smk.input.cache, train, read_split(train)),
    )
    job = int(smk.wildcards.job)
    trials = run_job(settings, job, DistillationObjective(template))
    states = {t.number: t.state.name for t in trials}
    logging.info("job %d: trials %s", job, states)
    Path(smk.output[0]).write_text(json.dumps({"job": job, "trials": states}, indent=2))
