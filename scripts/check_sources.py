"""Check every model and dataset source of the config and write the table (rule check_sources)."""

import sys
from pathlib import Path

from speedy.logs import log_to
from speedy.sources import check_sources, write_report

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    table = check_sources(smk.params.models, smk.params.datasets)
    write_report(table, Path(smk.output.csv).parent)
    summary = f"{len(table)} sources: {table.state.value_counts().to_dict()} (table in {smk.output.md})"
    print(table.to_markdown(index=False), summary, sep="\n")
    print(table.to_markdown(index=False), summary, sep="\n", file=sys.__stdout__)
