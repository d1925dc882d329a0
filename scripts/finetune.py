"""Fine-tune one model on one dataset at one grid point (rules finetune and finetune_student)."""

import torch

from speedy.data import prepared_splits
from speedy.logs import log_to
from speedy.tasks import task_from_params
from speedy.training import GridJob, Schedule, TrainSettings, run_grid_job

with log_to(snakemake.log[0], snakemake.resources):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    torch.set_num_threads(smk.threads)
    grid = {"batch_size": int(smk.wildcards.batch_size), "epochs": int(smk.wildcards.epochs), "learning_rate": float(smk.wildcards.learning_rate)}
    job = GridJob(
        dataset=smk.wildcards.dataset,
        model=smk.wildcards.model,
        source=smk.params.source,
        task=task_from_params(smk.params.task),
        settings=TrainSettings(**smk.params.train),
        schedule=Schedule(grid["batch_size"], grid["learning_rate"], grid["epochs"], micro_batch=smk.resources.get("micro_batch")),
        splits=prepared_splits(smk.input.data),
        grid=grid,
    )
    run_grid_job(job, smk.output[0], checkpoints=smk.params.checkpoints)
