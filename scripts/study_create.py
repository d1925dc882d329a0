"""Create the KD study of one dataset and student afresh in its storage and write its settings (rule study_create)."""

from speedy.logs import log_to
from speedy.study import StudySettings, create_study, log_to_root

with log_to(snakemake.log[0]):  # noqa: F821 - `snakemake` is injected by the script directive
    smk = snakemake  # noqa: F821
    log_to_root()
    settings = StudySettings(
        name=f"kd-{smk.wildcards.dataset}-{smk.wildcards.model}",
        storage=smk.params.storage,
        dataset=smk.wildcards.dataset,
        student=smk.wildcards.model,
        seed=smk.params.seed,
        **smk.params.study,
    )
    create_study(settings, smk.output[0])
