# Speedy Gonzales: fast task-specific Spanish models (Cañete & Bravo-Marquez), rebuilt end to end.
from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


# The paper's setup, unless a --configfile (e.g. config/demo.yaml via profiles/demo) replaces it whole.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"



include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/distill.smk"
include: "workflow/rules/study.smk"
include: "workflow/rules/bench.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/tables.smk"


rule all:
    input:
        all_targets(),
        study_targets(),
        export_targets(),
    default_target: True
