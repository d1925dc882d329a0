# Preparing every dataset: its three splits in the prepared schema of its task (Parquet), labels and a report.


rule prepare_data:
    input:
        lambda wildcards: local_split_files(wildcards.dataset),
    output:
        directory(prepared("{dataset}")),
    params:
        dataset=lambda wildcards: dataset_params(wildcards.dataset),
    log:
        out("logs/prepare_data/{dataset}.log"),
    threads: 1
    resources:
        mem_mb=mem_mb(2000),
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../../scripts/prepare_data.py"


rule check_sources:
    """Preflight (not part of `all`): the state of every model and dataset source of the config, downloading nothing."""
    output:
        csv=out("sources/sources.csv"),
        md=out("sources/sources.md"),
    params:
        models=canonical(config["models"]),
        datasets=canonical(config["datasets"]),
    log:
        out("logs/check_sources.log"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/check_sources.py"
