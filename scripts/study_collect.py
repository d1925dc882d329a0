"""Write a KD study's trials.csv, best.json and history/importance plot once all its jobs are done (rule study_collect)."""

from speedy.logs import log_to
from speedy.study import StudySettings, load_study, log_to_root, write_results

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    log_to_root()
    settings = StudySettings.read(smk.input.study)
    write_results(load_study(settings), settings, smk.output.trials, smk.output.best, smk.output.plot)
