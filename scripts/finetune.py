"""Fine-tune one model on one dataset at one grid point (rules finetune and finetune_student)."""

import torch

from speedy.logs import log_to
from speedy.training import GridJob, Schedule, dataset_files, run_grid_job

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    wildcards = snakemake.wildcards
    grid = {"batch_size": int(wildcards.batch_size), "epochs": int(wildcards.epochs), "learning_rate": float(wildcards.learning_rate)}
    job = GridJob(
        config=snakemake.config,
        dataset=wildcards.dataset,
        model=wildcards.model,
        source=snakemake.params.source,
        schedule=Schedule(batch_size=grid["batch_size"], learning_rate=grid["learning_rate"], epochs=grid["epochs"]),
        files=dataset_files(snakemake.input),
        grid=grid,
    )
    run_grid_job(job, snakemake.output.model, snakemake.output.metrics)
