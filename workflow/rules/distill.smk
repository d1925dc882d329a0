# Stage 2: students, the Parquet teacher cache, the distillation grids, the FT ablation and the cache timing.

DISTILL_STAGES = {distill_stage(kind): count for kind, count in DISTILLED.items()}  # grid -> teachers


def teacher_folders(dataset):
    """The published candidates of a dataset, one of which the selection names as teacher."""
    return [out(f"models/finetuned/{dataset}/{m}") for m in CANDIDATES]


def teacher_caches(dataset, count):
    """The caches of a dataset's `count` best teachers, one per teacher."""
    return [out(f"cache/{dataset}/teacher{rank}.parquet") for rank in range(1, count + 1)]


def teacher_params(stage):
    """How a distill grid combines its teachers: their count and, for several, their weighting."""
    count = DISTILL_STAGES[stage]
    return {"count": count} if count == 1 else {"count": count, "weights": config["distillation"]["teacher_weights"]}


rule make_student:
    input:
        model_input(config["students"]["cut_from"]),
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
        models=teacher_folders("{dataset}"),
        data=prepared("{dataset}"),
    output:
        out("cache/{dataset}/teacher{rank}.parquet"),
    params:
        task=job_task_params,
        batch_size=config["distillation"]["teacher_batch_size"],
    log:
        out("logs/cache_teacher/{dataset}/teacher{rank}.log"),
    benchmark:
        out("benchmarks/cache_teacher/{dataset}/teacher{rank}.tsv")
    wildcard_constraints:
        rank=r"\d+",
    threads: 4
    resources:
        gpu=1,
        **estimated_resources("cache_teacher"),
    conda:
        CONDA_ENV
    script:
        "../../scripts/cache_teacher.py"


rule distill:
    input:
        data=prepared("{dataset}"),
        teachers=out("teachers/{dataset}.json"),
        caches=lambda wildcards: teacher_caches(wildcards.dataset, DISTILL_STAGES[wildcards.stage]),
        model=job_model_input,
        study=lambda wildcards: study_best(wildcards.dataset, wildcards.model),  # empty unless settings_from: study
    output:
        grid_point("{stage}", DISTILL_SPACE.wildcard_pattern),
    params:
        source=job_model_source,
        task=job_task_params,
        train=train_params(),
        kd=kd_params(),
        teachers=lambda wildcards: teacher_params(wildcards.stage),
        checkpoints=grid_checkpoints,
    log:
        grid_log("{stage}", DISTILL_SPACE.wildcard_pattern, "logs"),
    benchmark:
        grid_log("{stage}", DISTILL_SPACE.wildcard_pattern, "benchmarks")
    wildcard_constraints:
        stage=_alternatives(DISTILL_STAGES),
    threads: 4
    resources:
        gpu=1,
        **estimated_resources("distill"),
    conda:
        CONDA_ENV
    script:
        "../../scripts/distill.py"


use rule finetune as finetune_student with:
    output:
        grid_point("ablation", FINETUNE_PATTERN),
    log:
        grid_log("ablation", FINETUNE_PATTERN, "logs"),
    benchmark:
        grid_log("ablation", FINETUNE_PATTERN, "benchmarks")


TIMING = config["distillation"]["timing"]


rule time_distillation:
    input:
        data=prepared(TIMING["dataset"]),
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
