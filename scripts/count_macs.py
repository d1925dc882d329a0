"""Count parameters and MACs of every benchmarked model into results/bench/macs.csv."""

from speedy.bench import macs_table
from speedy.logs import log_to

with log_to(snakemake.log[0]):
    table = macs_table(snakemake.params.entries, snakemake.params.reference, snakemake.params.bench)
    table.to_csv(snakemake.output[0], index=False)
