"""Draw one figure from its rule's inputs: Figure 1 (parameters against MACs) or Figure 2 (the frontier) (rule figure)."""

from speedy.logs import log_to
from speedy.tables import draw_figure

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    draw_figure(smk.wildcards.figure, dict(smk.input.items()), smk.output.png, smk.output.pdf)
