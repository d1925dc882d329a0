# Stage 2: students, the Parquet teacher cache, distillation grid, the FT ablation and cache timing.


def teacher_inputs(dataset):
    """The teacher choice and the published candidates it may point at."""
    return {
        "teacher": f"results/teachers/{dataset}.json",
        "candidates": [f"results/models/finetuned/{dataset}/{m}" for m in CANDIDATES],
    }


rule make_student:
    input:
        lambda wildcards: model_input(config["students"]["cut_from"]),
    output:
        directory("results/students/{model}"),
    params:
        source=model_source(config["students"]["cut_from"]),
        layers=lambda wildcards: CUT_STUDENTS[wildcards.model],
    log:
        "logs/make_student/{model}.log",
    threads: 1
    resources:
        mem_mb=mem_mb(4000),
        runtime=10,
    conda:
        CONDA_ENV
    script:
        "../../scripts/make_student.py"


rule cache_teacher:
    input:
        unpack(lambda wildcards: teacher_inputs(wildcards.dataset)),
        unpack(lambda wildcards: prepared_inputs(wildcards.dataset)),
    output:
        train="results/cache/{dataset}/train.parquet",
        validation="results/cache/{dataset}/validation.parquet",
    params:
        settings=settings("distillation"),
    log:
        "logs/cache_teacher/{dataset}.log",
    benchmark:
        "benchmarks/cache_teacher/{dataset}.tsv"
    threads: 4
    resources:
        mem_mb=mem_mb(16000),
        runtime=120,
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../../scripts/cache_teacher.py"


rule distill:
    input:
        unpack(lambda wildcards: teacher_inputs(wildcards.dataset)),
        unpack(lambda wildcards: prepared_inputs(wildcards.dataset)),
        cache="results/cache/{dataset}/train.parquet",
        model=lambda wildcards: model_input(wildcards.model),
    output:
        metrics=f"results/grid/distill/{{dataset}}/{{model}}/{DISTILL_SPACE.wildcard_pattern}/metrics.json",
        model=temp(directory(f"results/grid/distill/{{dataset}}/{{model}}/{DISTILL_SPACE.wildcard_pattern}/model")),
    params:
        source=lambda wildcards: model_source(wildcards.model),
        settings=settings("finetune", "distillation"),
    log:
        f"logs/grid/distill/{{dataset}}/{{model}}/{DISTILL_SPACE.wildcard_pattern}.log",
    benchmark:
        f"benchmarks/grid/distill/{{dataset}}/{{model}}/{DISTILL_SPACE.wildcard_pattern}.tsv"
    threads: 4
    resources:
        mem_mb=mem_mb(8000),
        runtime=720,
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../../scripts/distill.py"


use rule finetune as finetune_student with:
    output:
        metrics=f"results/grid/ablation/{{dataset}}/{{model}}/{FINETUNE_PATTERN}/metrics.json",
        model=temp(directory(f"results/grid/ablation/{{dataset}}/{{model}}/{FINETUNE_PATTERN}/model")),
    log:
        f"logs/grid/ablation/{{dataset}}/{{model}}/{FINETUNE_PATTERN}.log",
    benchmark:
        f"benchmarks/grid/ablation/{{dataset}}/{{model}}/{FINETUNE_PATTERN}.tsv"


rule time_distillation:
    input:
        unpack(lambda wildcards: teacher_inputs(config["distillation"]["timing"]["dataset"])),
        unpack(lambda wildcards: prepared_inputs(config["distillation"]["timing"]["dataset"])),
        model=model_input(config["distillation"]["timing"]["student"]),
    output:
        "results/bench/kd_cache.json",
    params:
        dataset=config["distillation"]["timing"]["dataset"],
        student=config["distillation"]["timing"]["student"],
        source=model_source(config["distillation"]["timing"]["student"]),
        settings=settings("finetune", "distillation"),
    log:
        "logs/time_distillation.log",
    benchmark:
        "benchmarks/time_distillation.tsv"
    threads: 4
    resources:
        mem_mb=mem_mb(8000),
        runtime=720,
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../../scripts/time_distillation.py"
