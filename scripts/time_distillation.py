"""Time distillation with and without the teacher cache (rule time_distillation; Table 8 and kd_cache.json)."""

import json

import torch

from speedy.data import prepared_split
from speedy.kd import KDSettings
from speedy.kd_timing import TimingSettings, time_distillation
from speedy.logs import log_to
from speedy.tasks import task_from_params
from speedy.teacher import read_teachers
from speedy.training import TrainSettings

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    torch.set_num_threads(smk.threads)
    p = smk.params
    kd = KDSettings(p.kd["alpha"], p.kd["temperature"], p.kd["loss"])
    result = time_distillation(
        TimingSettings(**p.timing), task_from_params(p.task), read_teachers(smk.input.teachers)[0], p.source,
        prepared_split(smk.input.data, "train"), TrainSettings(**p.train), kd, p.learning_rate, p.teacher_batch_size,
    )  # fmt: skip
    with open(smk.output[0], "w", encoding="utf-8") as stream:
        json.dump(result, stream, indent=2)
    print(f"ratio_to_floor = {result['ratio_to_floor']:.3f}")
    print(f"nocache_over_cache = {result['nocache_over_cache']:.3f}")
