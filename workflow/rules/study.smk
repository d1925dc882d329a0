# Beyond the paper: the Optuna study of the KD settings (alpha, T, loss) for the config's `study` dataset and
# student, as jobs that share one storage; `distillation.settings_from: study` makes that pair's distill use its best.

import math

STUDY = config.get("study")  # checked while planning (speedy.config.check_references)


def study_path(dataset, model, name):
    """A file of the KD study of one dataset and student."""
    return out(f"study/{dataset}/{model}/{name}")


def study_targets():
    """The configured study's trials.csv, best.json and plot (none without a `study` block)."""
    if not STUDY:
        return []
    return [study_path(STUDY["dataset"], STUDY["student"], name) for name in ("trials.csv", "best.json", "study.png")]


def study_best(dataset, model):
    """The best.json a distill job reads: the studied pair's when `settings_from: study`; other pairs keep the fixed settings."""
    if config["distillation"].get("settings_from") != "study":
        return []
    if (dataset, model) != (STUDY["dataset"], STUDY["student"]):
        return []
    return [study_path(dataset, model, "best.json")]


def study_jobs(wildcards):
    """The marker of every trial job of a study."""
    jobs = math.ceil(STUDY["trials"] / STUDY["trials_per_job"])
    return [study_path(wildcards.dataset, wildcards.model, f"jobs/{job}.json") for job in range(1, jobs + 1)]


rule study_create:
    output:
        out("study/{dataset}/{model}/study.json"),
    params:
        study=canonical({key: value for key, value in (STUDY or {}).items() if key not in ("dataset", "student", "storage")}),
        storage=lambda wildcards: (STUDY or {}).get("storage") or study_path(wildcards.dataset, wildcards.model, "journal.log"),
        seed=config["seed"],
    log:
        out("logs/study/{dataset}/{model}/create.log"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/study_create.py"


rule study_trials:
    input:
        study=out("study/{dataset}/{model}/study.json"),
        data=prepared("{dataset}"),
        teachers=out("teachers/{dataset}.json"),
        cache=teacher_caches("{dataset}", 1),
        model=job_model_input,
    output:
        out("study/{dataset}/{model}/jobs/{job}.json"),
    params:
        source=job_model_source,
        task=job_task_params,
        train=train_params(),
    log:
        out("logs/study/{dataset}/{model}/job{job}.log"),
    benchmark:
        out("benchmarks/study/{dataset}/{model}/job{job}.tsv")
    wildcard_constraints:
        job=r"\d+",
    threads: 4
    resources:
        mem_mb=mem_mb(8000),
        runtime=720,
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../../scripts/study_trials.py"


rule study_collect:
    input:
        study=out("study/{dataset}/{model}/study.json"),
        jobs=study_jobs,
    output:
        trials=out("study/{dataset}/{model}/trials.csv"),
        best=out("study/{dataset}/{model}/best.json"),
        plot=report(out("study/{dataset}/{model}/study.png"), caption="../report/study.rst", category="Study"),
    log:
        out("logs/study/{dataset}/{model}/collect.log"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/study_collect.py"
