"""Build one tiny demo model with a tokenizer trained on the demo corpus."""

import logging

from speedy.demo import build_demo_model
from speedy.logs import log_to

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    params = snakemake.params  # noqa: F821
    build_demo_model(params.family, params.arch, list(snakemake.input), snakemake.output[0], params.seed)  # noqa: F821
    logging.info("built %s (%s) in %s", snakemake.wildcards.model, params.family, snakemake.output[0])  # noqa: F821
