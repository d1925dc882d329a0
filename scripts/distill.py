"""Distil the cached teacher into one student on one dataset at one KD grid point (rule distill)."""

import torch

from speedy.data import read_split
from speedy.kd import KDSettings
from speedy.logs import log_to
from speedy.tasks import task_from_params
from speedy.teacher import open_cache, read_teachers
from speedy.training import GridJob, Schedule, TrainSettings, run_grid_job

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    torch.set_num_threads(smk.threads)
    teacher = read_teachers(smk.input.teachers)[0]
    task = task_from_params(smk.params.task)
    cached = open_cache(teacher, task, smk.input.cache, smk.input.train, read_split(smk.input.train))
    kd = smk.params.kd
    grid = {"batch_size": int(smk.wildcards.batch_size), "learning_rate": float(smk.wildcards.learning_rate)}
    micro_batch = smk.params.get("micro_batch")  # most examples per forward pass; None runs the whole batch at once
    job = GridJob(
        dataset=smk.wildcards.dataset,
        model=smk.wildcards.model,
        source=smk.params.source,
        task=task,
        settings=TrainSettings(**smk.params.train),
        schedule=Schedule(grid["batch_size"], grid["learning_rate"], kd["max_epochs"], kd["patience"], micro_batch=micro_batch),
        splits={split: smk.input[split] for split in ("train", "validation", "test")},
        grid={**grid, "teacher": teacher.model},
        teacher=cached,
        kd=KDSettings(kd["alpha"], kd["temperature"], kd["loss"]),
        inputs=(smk.input.cache,),
    )
    run_grid_job(job, smk.output.model, smk.output.metrics, smk.output.predictions, checkpoints=smk.params.checkpoints)
