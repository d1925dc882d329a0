"""Preparing every dataset: its three splits in the internal schema (Parquet) and its label names."""


rule prepare_data:
    input:
        lambda wildcards: local_split_files(wildcards.dataset),
    output:
        **{split: prepared("{dataset}", split) for split in SPLITS},
        labels="results/data/{dataset}/labels.json",
    log:
        "logs/prepare_data/{dataset}.log",
    threads: 1
    resources:
        mem_mb=mem_mb(2000),
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../../scripts/prepare_data.py"
