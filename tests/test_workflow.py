"""The workflow plans offline: the paper config's dry run has the expected jobs, and bad configs fail clearly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def dry_run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SNAKEMAKE, "-n", "--quiet", "rules", "--forceall", "--nolock", *args],
        cwd=cwd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def job_counts(output: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", output, re.MULTILINE)}


@pytest.fixture(scope="module")
def paper_jobs() -> dict[str, int]:
    run = dry_run()
    assert run.returncode == 0, run.stderr[-3000:]
    return job_counts(run.stdout)


def test_paper_dry_run_plans_every_stage(paper_jobs):
    assert paper_jobs["prepare_data"] == 8
    assert paper_jobs["finetune"] == 8 * 11 * 36 == 3168
    assert paper_jobs["distill"] == 8 * 6 * 6 == 288
    assert paper_jobs["finetune_student"] == 8 * 5 * 36  # albeto-tiny's grid is already a candidate's
    assert paper_jobs["publish"] == 8 * 11 + 8 * 5 + 8 * 6
    assert paper_jobs["select_teacher"] == paper_jobs["cache_teacher"] == 8
    assert paper_jobs["make_student"] == 5
    assert paper_jobs["count_macs"] == 1 and paper_jobs["bench_speed"] == 16
    assert paper_jobs["table"] == 11  # Tables 1-8, frontier, budget, paper_vs_run
    assert paper_jobs["export"] == 8 * 6 and paper_jobs["deploy_table"] == 1
    assert paper_jobs["figure"] == 2 and paper_jobs["time_distillation"] == 1 and paper_jobs["environment"] == 1
    assert "build_demo_data" not in paper_jobs and "build_demo_model" not in paper_jobs
    assert "build_demo_corpus" not in paper_jobs


def test_demo_dry_run_builds_the_demo_world():
    run = dry_run("--profile", "profiles/demo")
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = job_counts(run.stdout)
    assert jobs["build_demo_data"] == 8 * 3 and jobs["build_demo_model"] == 5  # one job per demo source file
    assert jobs["build_demo_corpus"] == 1
    assert jobs["finetune"] == 8 * 5


def test_a_config_typo_stops_planning_with_one_clear_error(tmp_path):
    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    config["bench"]["warmup"] = config["bench"].pop("warmup_runs")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    run = dry_run("--configfile", str(bad))
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "Error validating config file" in output
    assert "('warmup' was unexpected)" in output and "On instance['bench']" in output


def test_a_dangling_reference_stops_planning(tmp_path):
    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    config["students"]["cut_from"] = "beto-cased"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    run = dry_run("--configfile", str(bad))
    assert run.returncode != 0
    assert "students.cut_from: 'beto-cased' must be an ALBERT model" in run.stdout + run.stderr


def test_plan_runs_offline_on_the_paper_config(tmp_path):
    """`snakemake plan` writes every training and cache job's estimates and a summary with total GPU-hours."""
    results = tmp_path / "results"
    run = subprocess.run(
        [SNAKEMAKE, "--cores", "1", "--nolock", "plan", "--config", f"results={results}"],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    plan = pd.read_csv(results / "plan" / "resources.csv")
    assert len(plan) == 3168 + 1440 + 288 + 8 and plan["fits"].all()
    assert plan["micro_batch"].between(1, 64).all() and plan["hours"].gt(0).all()
    largest = plan.loc[plan["model"] == "albeto-xxlarge", "micro_batch"].max()
    assert largest < 64, "ALBETO xxlarge at batch 64 x 512 cannot run whole on a 40 GB GPU"
    summary = (results / "plan" / "summary.md").read_text()
    assert "GPU-hours" in summary and "finetune_student" in summary and "every job fits" in summary
