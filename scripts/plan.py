"""Write the resource plan: every job's estimates (resources.csv) and a summary (rule plan)."""

import pandas as pd

from speedy.logs import log_to
from speedy.resources import plan_summary

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    pd.DataFrame(smk.params.jobs).to_csv(smk.output.csv, index=False)
    summary = plan_summary(smk.params.jobs, smk.params.hardware)
    with open(smk.output.md, "w", encoding="utf-8") as stream:
        stream.write(summary)
    print(summary)
