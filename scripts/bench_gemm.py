"""Measure the device's fp32 GEMM throughput into gemm_{device}.json (rule bench_gemm)."""

import json

from speedy.bench import gemm_throughput
from speedy.logs import log_to

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    result = gemm_throughput(smk.wildcards.device, smk.params.threads, smk.params.outlier_threshold)
    with open(smk.output[0], "w", encoding="utf-8") as stream:
        json.dump(result, stream, indent=2)
