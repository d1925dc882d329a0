# Each job's memory, time and micro-batch from the model and the data (speedy.resources), for the `hardware` block:
# the rules' mem_mb, runtime, gpu_mem_mb and micro_batch resources, and the `plan` target.

import math
from functools import cache
from types import SimpleNamespace

from speedy.resources import Arch, EstimateError, Hardware, Workload, job_resources, macs_per_sequence
from speedy.tasks import TaskSettings, make_task

HARDWARE = Hardware(**config["hardware"])
ASSUMED_STATS = {"train": 10000, "validation": 1000, "test": 1000}  # for a dataset without `stats`


def dataset_stats(dataset):
    """A dataset's sizes (examples per split) and mean tokens per example, from its `stats` or assumed."""
    stats = config["datasets"][dataset].get("stats")
    return stats or {**ASSUMED_STATS, "tokens": config["max_seq_length"] / 2, "assumed": True}


@cache
def _macs(model):
    """MACs of one sequence of max_seq_length tokens through a model (from its arch: no weights needed)."""
    return macs_per_sequence(Arch.from_entry(entry_of(model)), config["max_seq_length"], 2)


@cache
def _teacher_values(dataset):
    """Cached teacher values per training example of a dataset: its column specs with words ~ tokens."""
    entry = config["datasets"][dataset]
    task = make_task(entry["task"], TaskSettings(max_seq_length=config["max_seq_length"]), entry.get("labels", []))
    tokens = dataset_stats(dataset)["tokens"]
    return sum(math.prod(tokens if dim == "words" else dim for dim in column.dims) for column in task.teacher_columns())


def workload(kind, dataset, model, batch_size, epochs, count=1):
    """What one job of `kind` (train, distill, cache) does on a dataset with a model."""
    stats = dataset_stats(dataset)
    evaluate = kind != "cache"
    return Workload(
        entry=entry_of(model),
        training=kind != "cache",
        batch_size=batch_size,
        examples=stats["train"],
        mean_length=min(stats["tokens"], config["max_seq_length"]),
        epochs=epochs,
        macs_per_sequence=_macs(model),
        seq_length=config["max_seq_length"],
        num_labels=max(2, len(config["datasets"][dataset].get("labels", []))),
        teacher_values=_teacher_values(dataset) * count if kind == "distill" else 0,
        eval_examples=stats["validation"] + stats["test"] if evaluate else 0,
        eval_mean_length=min(stats["tokens"], config["max_seq_length"]) if evaluate else 0,
        eval_passes=epochs + 1 if evaluate else 0,
        macs_seq_length=config["max_seq_length"],
    )


@cache
def estimate(kind, dataset, model, batch_size, epochs, count=1, attempt=1):
    """The resources of one job (see speedy.resources.job_resources), cached: Snakemake asks per resource."""
    return job_resources(workload(kind, dataset, model, batch_size, epochs, count), HARDWARE, attempt)


def largest_candidate():
    """The candidate with the most MACs: a teacher cache job's model is chosen after planning, so plan for the worst."""
    return max(CANDIDATES, key=_macs)


def job_estimate(rule_name, wildcards, attempt=1):
    """The estimate of a job of a training, cache or study rule from its wildcards."""
    if rule_name in ("finetune", "finetune_student"):
        return estimate("train", wildcards.dataset, wildcards.model, int(wildcards.batch_size), int(wildcards.epochs), attempt=attempt)
    if rule_name == "distill":
        count = DISTILL_STAGES[wildcards.stage]
        epochs = config["distillation"]["max_epochs"]
        return estimate("distill", wildcards.dataset, wildcards.model, int(wildcards.batch_size), epochs, count, attempt)
    if rule_name == "cache_teacher":
        batch = config["distillation"]["teacher_batch_size"]
        return estimate("cache", wildcards.dataset, largest_candidate(), batch, 1, attempt=attempt)
    raise ValueError(f"no resource estimate for rule {rule_name!r}")


def estimated(rule_name, field):
    """A Snakemake resource (mem_mb, runtime, gpu_mem_mb, micro_batch) of a rule's jobs, from their estimates."""

    @signature_cached
    def resource(wildcards, attempt):
        return getattr(job_estimate(rule_name, wildcards, attempt), field)

    return resource


def estimated_resources(rule_name):
    """The resources block of a training or cache rule."""
    return {field: estimated(rule_name, field) for field in ("mem_mb", "runtime", "gpu_mem_mb", "micro_batch")}


def planned_jobs():
    """Every training and cache job the config plans, with its wildcards: (rule, wildcards) pairs."""
    jobs = []
    for dataset in DATASETS:
        for model in CANDIDATES + [s for s in STUDENTS if s not in CANDIDATES]:
            stage = "finetune" if model in CANDIDATES else "finetune_student"
            for point in FINETUNE_SPACES[model].dataframe.to_dict("records"):
                jobs.append((stage, {"dataset": dataset, "model": model, **point}))
        for stage in DISTILL_STAGES:
            for model in STUDENTS:
                for point in DISTILL_SPACE.dataframe.to_dict("records"):
                    jobs.append(("distill", {"dataset": dataset, "model": model, "stage": stage, **point}))
        jobs += [("cache_teacher", {"dataset": dataset, "rank": rank}) for rank in range(1, TEACHERS + 1)]
    return jobs


def plan_rows():
    """One row per planned training and cache job: its wildcards and its estimates (see speedy.resources)."""
    rows = []
    for rule_name, values in planned_jobs():
        wildcards = SimpleNamespace(**{key: str(value) for key, value in values.items()})
        job = job_estimate(rule_name, wildcards)
        stats = dataset_stats(values["dataset"])
        rows.append(
            {
                "rule": rule_name, **{key: values.get(key, "") for key in ("dataset", "model", "stage", "batch_size", "epochs", "learning_rate", "rank")},
                "micro_batch": job.micro_batch, "accumulation_steps": job.accumulation_steps,
                "device_gib": round(job.device.total / 2**30, 2), "host_gib": round(job.host_bytes / 2**30, 2),
                "hours": round(job.seconds / 3600, 3), "mem_mb": job.mem_mb, "runtime": job.runtime,
                "gpu_mem_mb": job.gpu_mem_mb, "fits": job.micro_batch > 0,
                "why": job.fit.reason() if job.fit is not None and job.micro_batch == 0 else "",
                "assumed_size": bool(stats.get("assumed")),
            }
        )  # fmt: skip
    return rows


rule plan:
    """Every training and cache job's estimated memory, micro-batch and time on the configured hardware (not in `all`)."""
    output:
        csv=out("plan/resources.csv"),
        md=out("plan/summary.md"),
    params:
        jobs=lambda wildcards: plan_rows(),
        hardware=canonical(config["hardware"]),
    log:
        out("logs/plan.log"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/plan.py"
