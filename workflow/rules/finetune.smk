# Stage 1: the fine-tuning grid of every candidate, publishing each grid's best point, teacher selection.


def grid_point(stage, pattern):
    """The folder of one grid point of `stage` (finetune, ablation, distill): the job's one output (speedy.grid)."""
    return directory(out(f"grid/{stage}/{{dataset}}/{{model}}/{pattern}"))


@signature_cached
def grid_checkpoints(wildcards, output):
    """A grid job's checkpoint folder: results/checkpoints/ mirrors results/grid/, outside the job's outputs, so that
    Snakemake keeps it when the job fails and the rerun resumes from it (the job removes it when it succeeds)."""
    return out("checkpoints/" + os.path.relpath(output[0], out("grid")))


def grid_log(stage, pattern, kind):
    """The log or benchmark file of one grid point."""
    suffix = "log" if kind == "logs" else "tsv"
    return out(f"{kind}/grid/{stage}/{{dataset}}/{{model}}/{pattern}.{suffix}")


rule finetune:
    input:
        data=prepared("{dataset}"),
        model=job_model_input,
    output:
        grid_point("finetune", FINETUNE_PATTERN),
    params:
        source=job_model_source,
        task=job_task_params,
        train=train_params(),
        checkpoints=grid_checkpoints,
    log:
        grid_log("finetune", FINETUNE_PATTERN, "logs"),
    benchmark:
        grid_log("finetune", FINETUNE_PATTERN, "benchmarks")
    threads: 4
    resources:
        gpu=1,
        **estimated_resources("finetune"),
    conda:
        CONDA_ENV
    script:
        "../../scripts/finetune.py"


rule publish:
    input:
        points=grid_points,
    output:
        model=directory(out("models/{kind}/{dataset}/{model}")),
        scores=out("scores/{kind}/{dataset}/{model}.json"),
    params:
        base=job_model_source,
        metric=job_metric,
    log:
        out("logs/publish/{kind}/{dataset}/{model}.log"),
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
        scores=[published("finetuned", "{dataset}", m) for m in CANDIDATES],
        models=[out(f"models/finetuned/{{dataset}}/{m}") for m in CANDIDATES],
    output:
        out("teachers/{dataset}.json"),
    params:
        teachers=TEACHERS,
    log:
        out("logs/select_teacher/{dataset}.log"),
    localrule: True
    threads: 1
    resources:
        mem_mb=mem_mb(500),
        runtime=5,
    conda:
        CONDA_ENV
    script:
        "../../scripts/select_teacher.py"
