"""Time one model's forward pass on one device into speed/{model}_{device}.json (rule bench_speed)."""

import json

import pandas as pd

from speedy.bench import Shape, Timing, speed_report
from speedy.logs import log_to

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    model, device = smk.wildcards.model, smk.wildcards.device
    macs = int(pd.read_csv(smk.input.macs).set_index("model").loc[model, "macs"])
    with open(smk.input.gemm, encoding="utf-8") as stream:
        gemm_flops = json.load(stream)["flops"]
    shape, timing = Shape(**smk.params.shape), Timing(**smk.params.timing)
    report = speed_report(model, smk.params.entry, device, shape, timing, macs, gemm_flops)
    with open(smk.output[0], "w", encoding="utf-8") as stream:
        json.dump(report, stream, indent=2)
