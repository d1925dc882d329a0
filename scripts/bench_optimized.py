"""Time a student with ONNX Runtime and int8 against eager PyTorch into results/bench/optimized/{model}.json."""

import json

from speedy.bench import optimized_report
from speedy.logs import log_to

with log_to(snakemake.log[0]):
    report = optimized_report(snakemake.wildcards.model, snakemake.params.entry, snakemake.params.bench)
    with open(snakemake.output[0], "w", encoding="utf-8") as stream:
        json.dump(report, stream, indent=2)
