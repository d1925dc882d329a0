"""Run a dataset's selected teacher once over its training split and store its outputs (rule cache_teacher)."""

import torch

from speedy.data import prepared_split
from speedy.logs import log_to
from speedy.tasks import task_from_params
from speedy.teacher import build_cache, read_teachers

with log_to(snakemake.log[0], snakemake.resources):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    torch.set_num_threads(smk.threads)
    teacher = read_teachers(smk.input.teachers)[int(smk.wildcards.rank) - 1]
    task = task_from_params(smk.params.task)
    build_cache(teacher, task, prepared_split(smk.input.data, "train"), smk.params.batch_size, smk.output[0])
