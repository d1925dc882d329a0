"""Cut an ALBERT student with n layers from ALBETO base's weights (rule make_student)."""

from speedy.logs import log_to
from speedy.models import cut_albert

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    cut_albert(snakemake.params.source, snakemake.params.layers, snakemake.output[0])  # noqa: F821
