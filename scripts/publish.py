"""Publish the grid point with the lowest selection loss as a model with its scores and card (rule publish)."""

import logging

from speedy.logs import log_to
from speedy.publish import publish_best

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    best = publish_best(smk.input.points, smk.wildcards.kind, smk.params.metric, smk.params.base, smk.output.model, smk.output.scores)
    logging.info("best of %d grid points: %s", len(smk.input.points), best["grid"])
