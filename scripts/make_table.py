"""Build one table from its rule's inputs and options (rule table)."""

from speedy.logs import log_to
from speedy.tables import Layout, build_table, write_table

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    layout = Layout(smk.params.datasets, smk.params.candidates, smk.params.students)
    table = build_table(smk.wildcards.table, dict(smk.input.items()), layout, smk.params.options)
    write_table(table, smk.output.csv, smk.output.md, smk.output.html)
