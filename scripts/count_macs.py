"""Count parameters and MACs of every benchmarked model into macs.csv (rule count_macs)."""

from speedy.bench import Shape, macs_table
from speedy.logs import log_to

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    p = snakemake.params  # noqa: F821
    macs_table(p.entries, p.reference, p.reference_entry, Shape(**p.shape)).to_csv(snakemake.output[0], index=False)  # noqa: F821
