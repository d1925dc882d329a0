"""Time one model's forward pass on one device into results/bench/speed/{model}_{device}.json."""

import json

import pandas as pd

from speedy.bench import speed_report
from speedy.logs import log_to

with log_to(snakemake.log[0]):
    model, device = snakemake.wildcards.model, snakemake.wildcards.device
    macs = int(pd.read_csv(snakemake.input.macs).set_index("model").loc[model, "macs"])
    with open(snakemake.input.gemm, encoding="utf-8") as stream:
        gemm_flops = json.load(stream)["flops"]
    report = speed_report(model, snakemake.params.entry, device, snakemake.params.bench, macs, gemm_flops)
    with open(snakemake.output[0], "w", encoding="utf-8") as stream:
        json.dump(report, stream, indent=2)
