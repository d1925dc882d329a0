"""Draw Figure 1, parameters against MACs (rule figure1)."""

from speedy.logs import log_to
from speedy.tables import figure1, load_macs

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    figure1(load_macs(snakemake.input.macs), snakemake.output.png, snakemake.output.pdf)  # noqa: F821
