"""Snakemake `script:` entry point: build one paper table (params.table) or Figure 1 from the rule's inputs."""

from speedy.logs import log_to
from speedy.tables import build_table, figure1, load_macs, write_table

smk = snakemake  # noqa: F821 (the global object Snakemake gives `script:` jobs)

with log_to(smk.log[0]):
    if smk.params.table == "figure1":
        figure1(load_macs(smk.input.macs), smk.output.png, smk.output.pdf)
    else:
        table = build_table(smk.params.table, dict(smk.input.items()), smk.config, smk.params.get("task"))
        write_table(table, smk.output.csv, smk.output.md)
