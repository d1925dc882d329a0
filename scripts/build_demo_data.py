"""Write one synthetic source file of a demo dataset (rule build_demo_data)."""

import logging

from speedy.demo.data import write_demo_dataset
from speedy.logs import log_to

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    source = smk.params.source
    write_demo_dataset(source["dataset"], source["split"], smk.output[0], source["format"], smk.params.seed)
    logging.info("wrote %s (%s %s, %s)", smk.output[0], source["dataset"], source["split"], source["format"])
