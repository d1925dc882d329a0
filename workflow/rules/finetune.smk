# Stage 1: fine-tuning grid over every candidate, publishing the best grid point, teacher selection.


rule finetune:
    input:
        unpack(lambda wildcards: prepared_inputs(wildcards.dataset)),
        model=lambda wildcards: model_input(wildcards.model),
    output:
        metrics=f"results/grid/finetune/{{dataset}}/{{model}}/{FINETUNE_PATTERN}/metrics.json",
        model=temp(directory(f"results/grid/finetune/{{dataset}}/{{model}}/{FINETUNE_PATTERN}/model")),
    params:
        source=lambda wildcards: model_source(wildcards.model),
        settings=settings("finetune"),
    log:
        f"logs/grid/finetune/{{dataset}}/{{model}}/{FINETUNE_PATTERN}.log",
    benchmark:
        f"benchmarks/grid/finetune/{{dataset}}/{{model}}/{FINETUNE_PATTERN}.tsv"
    threads: 4
    resources:
        mem_mb=mem_mb(8000),
        runtime=240,
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../../scripts/finetune.py"


rule publish:
    input:
        metrics=lambda wildcards: grid_runs(wildcards, "metrics.json"),
        models=lambda wildcards: grid_runs(wildcards, "model"),
    output:
        model=directory("results/models/{kind}/{dataset}/{model}"),
        scores="results/scores/{kind}/{dataset}/{model}.json",
    params:
        base=lambda wildcards: model_source(wildcards.model),
    log:
        "logs/publish/{kind}/{dataset}/{model}.log",
    localrule: True
    threads: 1
    resources:
        mem_mb=mem_mb(1000),
        runtime=10,
    conda:
        CONDA_ENV
    script:
        "../../scripts/publish.py"


rule select_teacher:
    input:
        scores=lambda wildcards: [published("finetuned", wildcards.dataset, m) for m in CANDIDATES],
    output:
        "results/teachers/{dataset}.json",
    log:
        "logs/select_teacher/{dataset}.log",
    localrule: True
    threads: 1
    resources:
        mem_mb=mem_mb(500),
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../../scripts/select_teacher.py"
