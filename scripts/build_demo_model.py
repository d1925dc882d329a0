"""Build one demo model: a tokenizer trained on the demo corpus and masked-LM pre-training on it (rule build_demo_model)."""

import logging

from speedy.demo.models import Pretraining, build_demo_model
from speedy.logs import log_to

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    p = smk.params
    losses = build_demo_model(p.family, p.arch, smk.input.corpus, Pretraining(**p.pretraining), smk.output[0], p.seed)
    logging.info("built %s (%s) in %s; masked-LM loss %s", smk.wildcards.model, p.family, smk.output[0], losses)
