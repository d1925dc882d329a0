"""Measure the device's fp32 GEMM throughput into results/bench/gemm_{device}.json."""

import json

from speedy.bench import gemm_throughput
from speedy.logs import log_to

with log_to(snakemake.log[0]):
    bench = snakemake.params.bench
    result = gemm_throughput(snakemake.wildcards.device, bench["threads"], bench["outlier_threshold"])
    with open(snakemake.output[0], "w", encoding="utf-8") as stream:
        json.dump(result, stream, indent=2)
