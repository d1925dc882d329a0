"""Pick the dataset's teacher: the published candidate with the lowest validation loss (rule select_teacher)."""

import logging

from speedy.logs import log_to
from speedy.publish import select_teacher

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    teacher = select_teacher(snakemake.input.scores, snakemake.output[0])  # noqa: F821
    logging.info("teacher: %s (validation loss %.4f)", teacher["model"], teacher["validation_loss"])
