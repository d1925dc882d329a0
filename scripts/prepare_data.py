"""Prepare one dataset: its splits in the prepared schema of its task as Parquet, and labels.json."""

import logging
from pathlib import Path

from speedy.data import DatasetSpec, prepare_dataset
from speedy.logs import log_to

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    out_dir = Path(snakemake.output[0])  # noqa: F821
    prepare_dataset(DatasetSpec.from_entry(snakemake.wildcards.dataset, snakemake.params.dataset), out_dir)  # noqa: F821
    logging.info("prepared %s in %s", snakemake.wildcards.dataset, out_dir)  # noqa: F821
