"""Time a student with ONNX Runtime and int8 against eager PyTorch into optimized/{model}.json (rule bench_optimized)."""

import json

from speedy.bench import Shape, Timing, optimized_report
from speedy.logs import log_to

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    p = smk.params
    report = optimized_report(smk.wildcards.model, p.entry, Shape(**p.shape), Timing(**p.timing), p.methods)
    with open(smk.output[0], "w", encoding="utf-8") as stream:
        json.dump(report, stream, indent=2)
