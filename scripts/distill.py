"""Distil the cached teacher(s) into one student on one dataset at one KD grid point (rule distill).

With several teachers (`params.teachers["count"]` > 1), their cached outputs are combined per example at the
KD temperature (speedy.kd.combine_rows).
"""

import torch

from speedy.data import prepared_split, prepared_splits, read_split
from speedy.logs import log_to
from speedy.study import kd_settings
from speedy.tasks import task_from_params
from speedy.teacher import open_caches, read_teachers
from speedy.training import GridJob, Schedule, TrainSettings, run_grid_job

with log_to(snakemake.log[0], snakemake.resources):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    torch.set_num_threads(smk.threads)
    combine, kd = smk.params.teachers, smk.params.kd
    teachers = read_teachers(smk.input.teachers)[: combine["count"]]
    task = task_from_params(smk.params.task)
    weighting = combine.get("weights", "equal")
    train = prepared_split(smk.input.data, "train")
    cached = open_caches(teachers, task, list(smk.input.caches), train, read_split(train), kd["temperature"], weighting)
    grid = {"batch_size": int(smk.wildcards.batch_size), "learning_rate": float(smk.wildcards.learning_rate)}
    taught = {"teacher": " + ".join(t.model for t in teachers)} | ({"teacher_weights": weighting} if len(teachers) > 1 else {})
    job = GridJob(
        dataset=smk.wildcards.dataset,
        model=smk.wildcards.model,
        source=smk.params.source,
        task=task,
        settings=TrainSettings(**smk.params.train),
        schedule=Schedule(grid["batch_size"], grid["learning_rate"], kd["max_epochs"], kd["patience"], micro_batch=smk.resources.get("micro_batch")),
        splits=prepared_splits(smk.input.data),
        grid={**grid, **taught},
        teacher=cached,
        kd=kd_settings(kd, *smk.input.study),  # the study's best.json when it is an input (settings_from: study)
        inputs=tuple(smk.input.caches),
    )
    run_grid_job(job, smk.output[0], checkpoints=smk.params.checkpoints)
