"""Distil the cached teacher into one student on one dataset at one KD grid point (rule distill)."""

import json

import torch

from speedy.cache import fingerprint, read_cache
from speedy.data import read_split
from speedy.kd import CachedTeacher
from speedy.logs import log_to
from speedy.training import GridJob, Schedule, dataset_files, run_grid_job

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    config, wildcards = snakemake.config, snakemake.wildcards
    teacher = json.loads(open(snakemake.input.teacher).read())
    expected = fingerprint(teacher["path"], snakemake.input.train, config["max_seq_length"], config["qa"]["doc_stride"])
    ids = list(read_split(snakemake.input.train)["id"])
    cached = CachedTeacher(read_cache(snakemake.input.cache, expected, ids))
    grid = {"batch_size": int(wildcards.batch_size), "learning_rate": float(wildcards.learning_rate)}
    schedule = Schedule(
        batch_size=grid["batch_size"],
        learning_rate=grid["learning_rate"],
        epochs=config["distillation"]["max_epochs"],
        patience=config["distillation"]["patience"],
    )
    job = GridJob(
        config=config,
        dataset=wildcards.dataset,
        model=wildcards.model,
        source=snakemake.params.source,
        schedule=schedule,
        files=dataset_files(snakemake.input),
        teacher=cached,
        grid={**grid, "teacher": teacher["model"]},
    )
    run_grid_job(job, snakemake.output.model, snakemake.output.metrics)
