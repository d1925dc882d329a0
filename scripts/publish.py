"""Publish the grid point with the lowest validation loss as a model with its card (rule publish)."""

import logging

from speedy.logs import log_to
from speedy.publish import publish_best

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    inputs, outputs = snakemake.input, snakemake.output  # noqa: F821
    kind, base = snakemake.wildcards.kind, snakemake.params.base  # noqa: F821
    best = publish_best(inputs.metrics, inputs.models, kind, base, outputs.model, outputs.scores)
    logging.info("best of %d grid points: %s", len(inputs.metrics), best["grid"])
