"""Rank a dataset's published candidates by selection loss and keep the best as its teachers (rule select_teacher)."""

import logging

from speedy.logs import log_to
from speedy.teacher import select_teachers

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    selection = select_teachers(smk.wildcards.dataset, smk.input.scores, smk.input.models, smk.params.teachers, smk.output[0])
    logging.info("teachers: %s", [t["model"] for t in selection["teachers"]])
