"""Write the synthetic source files of the demo datasets."""

import logging

from speedy.demo import write_demo_dataset
from speedy.logs import log_to

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    for path, (dataset, split, fmt) in snakemake.params.files.items():  # noqa: F821
        write_demo_dataset(dataset, split, path, fmt, snakemake.params.seed)  # noqa: F821
        logging.info("wrote %s (%s %s, %s)", path, dataset, split, fmt)
