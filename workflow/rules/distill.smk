# Stage 2: students, the Parquet teacher cache, the distillation grid, the FT ablation and the cache timing.


def teacher_folders(dataset):
    """The published candidates of a dataset, one of which the selection names as teacher."""
    return [out(f"models/finetuned/{dataset}/{m}") for m in CANDIDATES]


def teacher_cache(dataset):
    """The cache of a dataset's selected teacher."""
    return out(f"cache/{dataset}/teacher1.parquet")


rule make_student:
    input:
        lambda wildcards: model_input(config["students"]["cut_from"]),
    output:
        directory(out("students/{model}")),
    params:
        source=model_source(config["students"]["cut_from"]),
        layers=lambda wildcards: CUT_STUDENTS[wildcards.model],
    log:
        out("logs/make_student/{model}.log"),
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
        teachers=out("teachers/{dataset}.json"),
        models=lambda wildcards: teacher_folders(wildcards.dataset),
        train=lambda wildcards: prepared(wildcards.dataset, "train"),
    output:
        out("cache/{dataset}/teacher{rank}.parquet"),
    params:
        task=lambda wildcards: task_params(wildcards.dataset),
        batch_size=config["distillation"]["teacher_batch_size"],
    log:
        out("logs/cache_teacher/{dataset}/teacher{rank}.log"),
    benchmark:
        out("benchmarks/cache_teacher/{dataset}/teacher{rank}.tsv")
    wildcard_constraints:
        rank=r"\d+",
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
        unpack(lambda wildcards: prepared_splits(wildcards.dataset)),
        teachers=out("teachers/{dataset}.json"),
        cache=lambda wildcards: teacher_cache(wildcards.dataset),
        model=lambda wildcards: model_input(wildcards.model),
    output:
        metrics=grid_point("distill", DISTILL_SPACE.wildcard_pattern, "metrics.json"),
        predictions=grid_point("distill", DISTILL_SPACE.wildcard_pattern, "predictions.json"),
        model=temp(directory(grid_point("distill", DISTILL_SPACE.wildcard_pattern, "model"))),
    params:
        source=lambda wildcards: model_source(wildcards.model),
        task=lambda wildcards: task_params(wildcards.dataset),
        train=train_params(),
        kd=kd_params(),
        checkpoints=grid_checkpoints,
    log:
        grid_log("distill", DISTILL_SPACE.wildcard_pattern, "logs"),
    benchmark:
        grid_log("distill", DISTILL_SPACE.wildcard_pattern, "benchmarks")
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
        metrics=grid_point("ablation", FINETUNE_PATTERN, "metrics.json"),
        predictions=grid_point("ablation", FINETUNE_PATTERN, "predictions.json"),
        model=temp(directory(grid_point("ablation", FINETUNE_PATTERN, "model"))),
    log:
        grid_log("ablation", FINETUNE_PATTERN, "logs"),
    benchmark:
        grid_log("ablation", FINETUNE_PATTERN, "benchmarks")


TIMING = config["distillation"]["timing"]


rule time_distillation:
    input:
        unpack(lambda wildcards: prepared_splits(TIMING["dataset"])),
        teachers=out(f"teachers/{TIMING['dataset']}.json"),
        models=teacher_folders(TIMING["dataset"]),
        model=model_input(TIMING["student"]),
    output:
        out("bench/kd_cache.json"),
    params:
        dataset=TIMING["dataset"],
        student=TIMING["student"],
        source=model_source(TIMING["student"]),
        timing=canonical(TIMING),
        learning_rate=DISTILL_GRID["learning_rate"][0],
        teacher_batch_size=config["distillation"]["teacher_batch_size"],
        task=task_params(TIMING["dataset"]),
        train=train_params(),
        kd=kd_params(),
    log:
        out("logs/time_distillation.log"),
    benchmark:
        out("benchmarks/time_distillation.tsv")
    threads: 4
    resources:
        mem_mb=mem_mb(8000),
        runtime=720,
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../../scripts/time_distillation.py"
