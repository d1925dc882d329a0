"""Write the demo world's unlabelled pre-training corpus (rule build_demo_corpus)."""

import logging

from speedy.demo.data import write_demo_corpus
from speedy.logs import log_to

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    lines = write_demo_corpus(smk.params.datasets, smk.params.size, smk.output[0], smk.params.seed)
    logging.info("wrote %s: %d texts from %d datasets", smk.output[0], lines, len(smk.params.datasets))
