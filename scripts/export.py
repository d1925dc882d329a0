"""Export a published student to ONNX and int8 ONNX, check both on the test set, write its deployable folder (rule export)."""

import json
from pathlib import Path

from speedy.bench import Timing
from speedy.data import prepared_split
from speedy.export import BenchShape, DeploySettings, deploy
from speedy.logs import log_to
from speedy.tasks import task_from_params

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    p = smk.params
    settings = DeploySettings(p.eval_batch_size, smk.threads, BenchShape(**p.shape), Timing(**p.timing))
    task = task_from_params(p.task)
    report = deploy(
        smk.wildcards.dataset, smk.wildcards.model, Path(smk.input.model), prepared_split(smk.input.data, "test"), task, p.metric, settings,
        Path(smk.output.model),
    )  # fmt: skip
    with open(smk.output.report, "w", encoding="utf-8") as stream:
        json.dump(report, stream, indent=2, ensure_ascii=False)
