"""Planning cost of the paper DAG: its dry run against a bare Snakefile with the same number of jobs, side by side.

    python bench/dryrun.py [--runs 3] [--attribution]

Both run `snakemake -n --forceall` offline in fresh processes, alternating, and the medians are compared. The bare
Snakefile has one rule per job count of the real DAG's rules, each job a `shell:` touch of one file, wired as a
chain so that the DAG has dependencies too. Target: ratio <= 1.5.

`--attribution` also times copies of the workflow with rule directives taken out (the same jobs, inputs and
outputs): first every directive but input, output and wildcard constraints (scripts become a `shell:` touch), then
adding back log and benchmark, the scripts, params, and threads and resources. Each line is one step's ratio.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def dry_run(cwd: Path, *args: str) -> tuple[float, str]:
    """Seconds and stdout of one dry run (`--quiet rules` prints the job counts)."""
    started = time.perf_counter()
    run = subprocess.run(
        [SNAKEMAKE, "-n", "--forceall", "--nolock", "--quiet", "rules", *args],
        cwd=cwd, env=ENV, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return time.perf_counter() - started, run.stdout


# Cumulative steps from the DAG's files alone to the whole workflow: the directives each step still leaves out.
ATTRIBUTION = {
    "inputs and outputs only": {"log", "benchmark", "script", "params", "threads", "resources", "conda", "localrule"},
    "+ log and benchmark": {"script", "params", "threads", "resources", "conda", "localrule"},
    "+ script": {"params", "threads", "resources", "conda", "localrule"},
    "+ params": {"threads", "resources", "conda", "localrule"},
    "+ threads and resources": {"conda", "localrule"},
}
WORKFLOW_FILES = ("Snakefile", "config.yaml", "workflow", "scripts", "src", "envs")
DIRECTIVE = re.compile(r"^    (\w+):")


def without_directives(rules: str, dropped: set[str]) -> str:
    """A rule file with the `dropped` directives of every rule taken out (a dropped `script:` becomes a touch)."""
    lines, skipping = [], False
    for line in rules.splitlines():
        directive = DIRECTIVE.match(line)
        if directive:
            skipping = directive[1] in dropped
            if skipping and directive[1] == "script":
                lines += ["    shell:", '        "touch {output}"']
            elif not skipping:
                lines.append(line)
        elif not (skipping and line.startswith(" " * 8)):
            skipping = False
            lines.append(line)
    return "\n".join(lines) + "\n"


def stripped_copy(target: Path, dropped: set[str]) -> Path:
    """A copy of the workflow at `target` whose rules lack the `dropped` directives."""
    target.mkdir()
    for name in WORKFLOW_FILES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, target / name)
    for rules in (target / "workflow" / "rules").glob("*.smk"):
        rules.write_text(without_directives(rules.read_text(), dropped))
    return target


def job_counts(output: str) -> dict[str, int]:
    """Job count per rule from `--quiet rules` output."""
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", output, re.MULTILINE) if m[1] != "total"}


def bare_snakefile(counts: dict[str, int]) -> str:
    """A Snakefile with the same job count per rule; each rule's jobs depend on the previous rule's first job."""
    lines, previous = [], None
    for rule, count in counts.items():
        if rule == "all":
            continue
        lines.append(f"rule {rule}:")
        if previous:
            lines.append(f'    input: "files/{previous}/0.txt"')
        lines += [f'    output: "files/{rule}/{{i}}.txt"', '    shell: "touch {output}"', ""]
        previous = rule
    targets = ", ".join(f'expand("files/{r}/{{i}}.txt", i=range({n}))' for r, n in counts.items() if r != "all")
    return "\n".join([f"rule all:\n    input: {targets}\n    default_target: True\n", *lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--attribution", action="store_true", help="also time the workflow with directives taken out")
    args = parser.parse_args()
    _, output = dry_run(ROOT)
    counts = job_counts(output)
    with tempfile.TemporaryDirectory(prefix="speedy-bare-") as scratch:
        bare = Path(scratch, "bare")
        bare.mkdir()
        (bare / "Snakefile").write_text(bare_snakefile(counts))
        variants = {"paper config": ROOT}
        if args.attribution:
            variants = {step: stripped_copy(Path(scratch, f"step{i}"), dropped) for i, (step, dropped) in enumerate(ATTRIBUTION.items())} | variants
        for folder in [bare, *variants.values()]:
            assert job_counts(dry_run(folder)[1]) == counts, f"{folder} plans other job counts"
        times = {name: [] for name in ["bare Snakefile", *variants]}
        for _ in range(args.runs):
            times["bare Snakefile"].append(dry_run(bare)[0])
            for name, folder in variants.items():
                times[name].append(dry_run(folder)[0])
    plain = statistics.median(times["bare Snakefile"])
    print(f"jobs: {sum(counts.values())} in {len(counts)} rules")
    for name, seconds in times.items():
        print(f"{name + ':':28} median {statistics.median(seconds):5.1f} s  ratio {statistics.median(seconds) / plain:.2f}  {[round(s, 1) for s in seconds]}")
    print(f"ratio = {statistics.median(times['paper config']) / plain:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
