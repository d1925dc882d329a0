# Preparing every dataset: its three splits in the prepared schema of its task (Parquet), labels and a report.


rule prepare_data:
    input:
        lambda wildcards: local_split_files(wildcards.dataset),
    output:
        **prepared_splits("{dataset}"),
        labels=out("data/{dataset}/labels.json"),
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
