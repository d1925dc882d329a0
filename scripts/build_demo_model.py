"""Build one tiny demo model with a tokenizer trained on the demo corpus (rule build_demo_model)."""

import logging

from speedy.demo.models import build_demo_model
from speedy.logs import log_to

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    p = smk.params
    build_demo_model(p.family, p.arch, p.corpus, smk.output[0], p.seed)
    logging.info("built %s (%s) in %s", smk.wildcards.model, p.family, smk.output[0])
