"""Build the deployment table from the deploy reports of the exported students (rule deploy_table)."""

from speedy.logs import log_to
from speedy.tables import deploy_table, read_json, write_table

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    table = deploy_table([read_json(path) for path in smk.input.reports])
    write_table(table, smk.output.csv, smk.output.md, smk.output.html)
