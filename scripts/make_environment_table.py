"""Write the run's hardware and software versions, and the setup of the speed timings (rule environment)."""

from speedy.environment import environment_table
from speedy.logs import log_to
from speedy.tables import read_json, write_table

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    table = environment_table([read_json(path) for path in smk.input.speed])
    print(table.to_string(index=False))
    write_table(table, smk.output.csv, smk.output.md, smk.output.html)
