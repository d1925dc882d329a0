"""Time distillation with and without the teacher cache (rule time_distillation; Table 8 and kd_cache.json)."""

import json

import torch

from speedy.logs import log_to
from speedy.timing import time_distillation
from speedy.training import dataset_files

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    teacher = json.loads(open(snakemake.input.teacher).read())
    p = snakemake.params
    result = time_distillation(snakemake.config, p.dataset, p.student, p.source, teacher, dataset_files(snakemake.input))
    open(snakemake.output[0], "w").write(json.dumps(result, indent=2))
    print(f"ratio_to_floor = {result['ratio_to_floor']:.3f}")
    print(f"nocache_over_cache = {result['nocache_over_cache']:.3f}")
