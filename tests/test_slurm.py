"""profiles/slurm: a dry run of the paper's setup (GPU requests planned, no cluster needed) and a slice of the
demo DAG run for real on a single-node SLURM cluster started by .ci/slurm/start-cluster.sh, where one training job
is cancelled with scancel and its retry resumes from its checkpoint."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from speedy.config import check_references

# ------------------------------------------------------------------ the CI slice (extend it here)
# One dataset from the demo sources through fine-tuning, teacher selection, the teacher cache and
# distillation, with its tables. To extend the slice, add outputs below (and, for a new kind of output,
# a check in `check_output`); `slice_config` keeps the DAG behind them to a few SLURM jobs.
ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text(encoding="utf-8"))
SLICE_RESULTS = DEMO_CONFIG["results"]  # the demo config's results root, in the copy of the repository
SLICE_DATASET = "xnli"
SLICE_CANDIDATES = ["beto-cased", "albeto-tiny"]
SLICE_STUDENT = "albeto-tiny"
SLICE_OUTPUTS = [  # under SLICE_RESULTS
    *(f"data/{SLICE_DATASET}/{split}.parquet" for split in ("train", "validation", "test")),
    f"data/{SLICE_DATASET}/labels.json",
    *(f"scores/finetuned/{SLICE_DATASET}/{model}.json" for model in SLICE_CANDIDATES),
    f"teachers/{SLICE_DATASET}.json",
    f"cache/{SLICE_DATASET}/teacher1.parquet",
    f"scores/distilled/{SLICE_DATASET}/{SLICE_STUDENT}.json",
    "tables/table2.csv",
    "tables/table4.csv",
    "tables/table5.csv",
    "tables/table8.csv",
]
# The prepared dataset is one folder (a directory output): its files are checked, the folder is the target.
SLICE_TARGETS = [f"{SLICE_RESULTS}/{output}" for output in SLICE_OUTPUTS if not output.startswith("data/")]
SLICE_TARGETS.append(f"{SLICE_RESULTS}/data/{SLICE_DATASET}")
SLICE_TIMEOUT_S = 900  # the slice took 200-270 s on 2 shared cores (11 SLURM jobs and a retry, each with ~12-15 s of overhead)
# This candidate's fine-tune trains longer, and is cancelled (scancel) once its first epoch's checkpoint is complete:
# the profile's `retries` resubmit it, and the retry resumes from that checkpoint.
SLICE_CANCELLED = "beto-cased"
SLICE_CANCELLED_EPOCHS = 12

PROFILE = ROOT / "profiles" / "slurm"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
START_CLUSTER = ROOT / ".ci" / "slurm" / "start-cluster.sh"
STOP_CLUSTER = ROOT / ".ci" / "slurm" / "stop-cluster.sh"
CTLD_PIDFILE = Path("/run/slurm/slurmctld.pid")
# Left out of the repository copy: outputs, environments and local data of the checkout.
TOP_LEVEL_SKIPPED = {".git", ".venv", "results", "logs", "benchmarks", ".snakemake", ".pytest_cache", "data"}


def skip_in_copy(folder: str, names: list[str]) -> set[str]:
    """The names that copying the repository leaves out (shutil.copytree's `ignore`)."""
    top = TOP_LEVEL_SKIPPED if Path(folder) == ROOT else set()
    return {n for n in names if n in top or n == "__pycache__" or n.endswith(".egg-info")}


def slice_config() -> dict[str, Any]:
    """config/demo.yaml cut down to the slice: one dataset, two candidates, one student."""
    config = json.loads(json.dumps(DEMO_CONFIG))
    config["datasets"] = {SLICE_DATASET: config["datasets"][SLICE_DATASET]}
    models = dict.fromkeys([*SLICE_CANDIDATES, config["students"]["cut_from"]])
    config["models"] = {m: config["models"][m] for m in models}
    config["candidates"] = SLICE_CANDIDATES
    config["students"] = {**config["students"], "tiny": [SLICE_STUDENT], "layers": []}
    config["bench"]["reference"] = SLICE_CANDIDATES[0]
    config["distillation"]["timing"] = {**config["distillation"]["timing"], "dataset": SLICE_DATASET}
    config["export"] = [{"dataset": SLICE_DATASET, "students": [SLICE_STUDENT]}]
    grids = config["finetune"]["grids"]
    grids["cancelled"] = {**grids[config["models"][SLICE_CANCELLED]["lr_group"]], "epochs": [SLICE_CANCELLED_EPOCHS]}
    config["models"][SLICE_CANCELLED] = {**config["models"][SLICE_CANCELLED], "lr_group": "cancelled"}
    return config


# ------------------------------------------------------------------ profile helpers
def profile() -> dict[str, Any]:
    """profiles/slurm/config.yaml as Snakemake reads it (anchors resolved)."""
    return yaml.safe_load((PROFILE / "config.yaml").read_text(encoding="utf-8"))


def gpu_rules() -> list[str]:
    """The rules that the profile sends to a GPU."""
    return sorted(rule for rule, resources in profile()["set-resources"].items() if resources.get("gpu"))


def planned_jobs(dry_run_output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) of each job in the text of `snakemake --dry-run`."""
    jobs: list[tuple[str, dict[str, str]]] = []
    for line in dry_run_output.splitlines():
        if line.startswith(("rule ", "localrule ")) and line.endswith(":"):
            jobs.append((line.split()[1].rstrip(":"), {}))
        elif line.strip().startswith("resources:") and jobs:
            items = line.split(":", 1)[1].split(", ")
            jobs[-1][1].update(item.strip().split("=", 1) for item in items if "=" in item)
    return jobs


def test_profile_gpu_rules() -> None:
    assert set(gpu_rules()) >= {"finetune", "finetune_student", "distill", "cache_teacher", "time_distillation"}


def test_dry_run_plans_gpus_for_training() -> None:
    """The paper's config through profiles/slurm: training jobs get the GPU partition and a GPU."""
    settings = profile()
    cpu_partition = settings["default-resources"]["slurm_partition"]
    gpu_partition = settings["set-resources"]["finetune"]["slurm_partition"]
    targets = [
        "results/teachers/xnli.json",  # finetune
        "results/scores/distilled/xnli/albeto-tiny.json",  # cache_teacher, distill
        "results/scores/finetuned/xnli/albeto-base-2.json",  # finetune_student
        "results/bench/kd_cache.json",  # time_distillation
        "results/study/xnli/albeto-tiny/best.json",  # study_trials
        "results/bench/speed/albeto-tiny_cuda.json",
        "results/bench/speed/albeto-tiny_cpu.json",
    ]
    run = subprocess.run(
        [str(SNAKEMAKE), "--profile", str(PROFILE), "--dry-run", "--forceall", "--nolock", *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    jobs = planned_jobs(run.stdout + run.stderr)
    planned = {rule for rule, _ in jobs}
    assert set(gpu_rules()) <= planned, f"planned rules: {sorted(planned)}"
    for rule, resources in jobs:
        assert resources.get("slurm_account") == str(settings["default-resources"]["slurm_account"]), rule
        if rule in gpu_rules():
            assert resources.get("gpu") == "1" and resources.get("slurm_partition") == gpu_partition, (rule, resources)
        elif rule in ("bench_speed", "bench_gemm"):
            on_gpu = resources.get("gpu") == "1"
            assert resources.get("slurm_partition") == (gpu_partition if on_gpu else cpu_partition), (rule, resources)
        elif rule != "all":
            assert resources.get("gpu", "0") == "0", (rule, resources)
            assert resources.get("slurm_partition") == cpu_partition, (rule, resources)
    speed = [resources for rule, resources in jobs if rule == "bench_speed"]
    assert sorted(r["gpu"] for r in speed) == ["0", "1"], speed
    # memory, time and micro-batch come from the estimator, per job: they differ across models and datasets
    estimated = [r for rule, r in jobs if rule in ("finetune", "finetune_student", "distill", "cache_teacher")]
    for key in ("mem_mb", "runtime", "gpu_mem_mb"):
        assert len({r[key] for r in estimated}) > 3, (key, sorted({r[key] for r in estimated}))
    assert all(int(r["micro_batch"]) >= 1 and int(r["gpu_mem_mb"]) > 0 for r in estimated)


# ------------------------------------------------------------------ the real cluster
def cluster_skip_reason() -> str | None:
    """Why the SLURM slice cannot run here, or None."""
    if not (os.environ.get("CI") or os.environ.get("SPEEDY_SLURM_TEST") == "1"):
        return "starts a local SLURM cluster only in CI or with SPEEDY_SLURM_TEST=1"
    if os.geteuid() != 0:
        return "needs root to install and start munge and SLURM"
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        return "needs Debian's apt-get to install munge and SLURM"
    return None


def ctld_running() -> bool:
    """Whether a slurmctld from .ci/slurm/start-cluster.sh is alive."""
    try:
        os.kill(int(CTLD_PIDFILE.read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


@pytest.fixture(scope="session")
def slurm_cluster():
    """A single-node SLURM cluster on localhost; stopped afterwards unless it was already up."""
    reason = cluster_skip_reason()
    if reason:
        pytest.skip(reason)
    was_running = ctld_running()
    start = subprocess.run(["bash", str(START_CLUSTER)], capture_output=True, text=True, timeout=900)
    assert start.returncode == 0, start.stdout + start.stderr
    yield
    if not was_running:
        subprocess.run(["bash", str(STOP_CLUSTER)], capture_output=True, text=True, timeout=120)


class Canceller(threading.Thread):
    """Cancels, with scancel, the SLURM job of SLICE_CANCELLED's fine-tune once its first checkpoint is complete."""

    def __init__(self, workdir: Path):
        super().__init__(daemon=True)
        self.checkpoints = workdir / SLICE_RESULTS / "checkpoints" / "finetune" / SLICE_DATASET / SLICE_CANCELLED
        self.cancelled: tuple[str, Path] | None = None  # (SLURM job id, the checkpoint it had)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            complete = list(self.checkpoints.glob("**/checkpoint-*/trainer_state.json"))
            if not complete:
                continue
            queue = subprocess.run(["squeue", "-h", "-o", "%i %k"], capture_output=True, text=True).stdout.split("\n")
            jobs = [line.split()[0] for line in queue if f"rule_finetune_wildcards_{SLICE_DATASET}_{SLICE_CANCELLED}" in line]
            if jobs:
                subprocess.run(["scancel", jobs[0]], check=True)
                self.cancelled = (jobs[0], complete[0].parent)
                return


def check_output(workdir: Path, output: str) -> None:
    """Fail unless one output of the slice (a path under SLICE_RESULTS) exists and looks right."""
    path = workdir / SLICE_RESULTS / output
    assert path.exists() and path.stat().st_size > 0, f"{output} is missing or empty"
    if output.startswith("data/") and path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        assert len(frame) > 0 and {"id", "text", "label"} <= set(frame.columns), output
        assert frame["id"].is_unique, output
    elif output.startswith("cache/"):
        assert len(pd.read_parquet(path)) > 0, output
    elif output.endswith("labels.json"):
        labels = json.loads(path.read_text())
        assert labels["dataset"] == SLICE_DATASET and len(labels["labels"]) >= 2, labels
    elif output.startswith("scores/"):
        scores = json.loads(path.read_text())
        kind, dataset, model = Path(output).with_suffix("").parts[-3:]
        assert (scores["kind"], scores["dataset"], scores["model"]) == (kind, dataset, model), scores
        assert 0 <= scores["test"][scores["metric"]] <= 100, scores
        assert math.isfinite(scores["validation"]["loss"]), scores
    elif output.startswith("teachers/"):
        teacher = json.loads(path.read_text())["teachers"][0]
        assert teacher["model"] in SLICE_CANDIDATES and math.isfinite(teacher["selection_loss"]), teacher
    elif path.suffix == ".csv":
        assert len(pd.read_csv(path)) > 0, output


@pytest.mark.slurm
def test_demo_slice_on_slurm(slurm_cluster, tmp_path: Path) -> None:
    """SLICE_OUTPUTS built through profiles/slurm by real sbatch jobs, in a copy of the repository; one fine-tune
    is cancelled after its first epoch, and its retry (the profile's `retries`) resumes from the checkpoint."""
    workdir = tmp_path / "repo"
    shutil.copytree(ROOT, workdir, ignore=skip_in_copy)
    # The slice config stands in for the copy's config.yaml, so every SLURM job loads it as the workflow config.
    (workdir / "config.yaml").write_text(yaml.safe_dump(slice_config(), sort_keys=False), encoding="utf-8")
    no_gpu = [f"{rule}:gpu=0" for rule in gpu_rules()]  # the CI node has no GPU
    command = [
        "timeout", "-s", "INT", "-k", "30", str(SLICE_TIMEOUT_S),
        str(SNAKEMAKE), "--profile", "profiles/slurm",
        "--default-resources", "slurm_partition=debug", "runtime=30",
        "--set-resources", *no_gpu,
        "--slurm-no-account", "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "2", "--slurm-keep-successful-logs",
        "--jobs", "2", "--max-threads", "1", "--latency-wait", "5",
        *SLICE_TARGETS,
    ]  # fmt: skip
    canceller = Canceller(workdir)
    canceller.start()
    started = time.monotonic()
    run = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    elapsed = time.monotonic() - started
    canceller.done.set()
    output = run.stdout + run.stderr
    (tmp_path / "snakemake.log").write_text(output, encoding="utf-8")
    print(f"SLURM slice: {elapsed:.0f} s, exit {run.returncode}, log {tmp_path / 'snakemake.log'}")
    assert run.returncode == 0, f"snakemake exited {run.returncode} after {elapsed:.0f} s:\n{output[-6000:]}"
    for output in SLICE_OUTPUTS:
        check_output(workdir, output)
    sbatch_logs = list((workdir / ".snakemake" / "slurm_logs").glob("rule_*/**/*.log"))
    ran_on_slurm = {log.relative_to(workdir / ".snakemake" / "slurm_logs").parts[0][5:] for log in sbatch_logs}
    assert {"prepare_data", "finetune", "cache_teacher", "distill"} <= ran_on_slurm, sorted(ran_on_slurm)

    assert canceller.cancelled, f"{SLICE_CANCELLED}'s fine-tune ended before it could be cancelled after its first epoch"
    job_id, checkpoint = canceller.cancelled
    print(f"SLURM job {job_id} cancelled at {checkpoint.relative_to(workdir)}")
    point = checkpoint.parent.relative_to(canceller.checkpoints)
    log = workdir / SLICE_RESULTS / "logs" / "grid" / "finetune" / SLICE_DATASET / SLICE_CANCELLED / f"{point}.log"
    resumed = f"resuming from checkpoint {checkpoint.parent.relative_to(workdir)}/checkpoint-"  # this one or a later one
    assert resumed in log.read_text(), log.read_text()[-3000:]
    assert not checkpoint.parent.exists(), "the retry removes the checkpoints once it succeeds"


def test_slice_config_passes_the_workflow_checks() -> None:
    """The slice stands in for the copy's config.yaml, so it must pass the checks that every job's start runs."""
    check_references(slice_config())
