# Deployable students (speedy.export): the config's `export` pairs exported to ONNX and dynamic-int8 ONNX, every
# variant scored on the test set and timed at the benchmark shape. The published folder stays as `publish` wrote it:
# the deployable folder is a copy of it with the ONNX files that kept the eager score, and a card section on them.

EXPORTS = [(entry["dataset"], student) for entry in config["export"] for student in entry["students"]]


def deploy_reports():
    """The deploy report of every exported (dataset, student) pair."""
    return [out(f"bench/deploy/{dataset}/{model}.json") for dataset, model in EXPORTS]


def export_targets():
    """The deployable folders and the deployment table (nothing when `export` lists no pair)."""
    if not EXPORTS:
        return []
    folders = [out(f"models/deployable/{dataset}/{model}") for dataset, model in EXPORTS]
    return folders + [out(f"tables/deploy.{ext}") for ext in ("csv", "md", "html")]


rule export:
    input:
        model=out("models/distilled/{dataset}/{model}"),
        data=prepared("{dataset}"),
    output:
        model=directory(out("models/deployable/{dataset}/{model}")),
        report=out("bench/deploy/{dataset}/{model}.json"),
    params:
        task=job_task_params,
        metric=job_metric,
        eval_batch_size=config["finetune"]["eval_batch_size"],
        shape=canonical({key: BENCH[key] for key in ("batch_size", "seq_length")}),
        timing=TIMING_RUNS,
    log:
        out("logs/export/{dataset}/{model}.log"),
    benchmark:
        out("benchmarks/export/{dataset}/{model}.tsv")
    wildcard_constraints:
        model=_alternatives(STUDENTS),
    threads: 4
    resources:
        mem_mb=mem_mb(8000),
        runtime=lambda wildcards, attempt: 120 * attempt,
    conda:
        CONDA_ENV
    script:
        "../../scripts/export.py"


rule deploy_table:
    input:
        reports=deploy_reports(),
    output:
        csv=out("tables/deploy.csv"),
        md=out("tables/deploy.md"),
        html=report(out("tables/deploy.html"), caption="../report/deploy.rst", category="Tables"),
    log:
        out("logs/tables/deploy.log"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/make_deploy_table.py"
