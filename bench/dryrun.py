"""Planning cost of the paper DAG: its dry run against a bare Snakefile with the same number of jobs, side by side.

    python bench/dryrun.py [--runs 3]

Both run `snakemake -n --forceall` offline in fresh processes, alternating, and the medians are compared. The bare
Snakefile has one rule per job count of the real DAG's rules, each job a `shell:` touch of one file, wired as a
chain so that the DAG has dependencies too. Target: ratio <= 1.5.
"""

from __future__ import annotations

import argparse
import os
import re
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
    args = parser.parse_args()
    _, output = dry_run(ROOT)
    counts = job_counts(output)
    with tempfile.TemporaryDirectory(prefix="speedy-bare-") as bare:
        Path(bare, "Snakefile").write_text(bare_snakefile(counts))
        assert job_counts(dry_run(Path(bare))[1]) == counts, "the bare Snakefile plans other job counts"
        paper, plain = [], []
        for _ in range(args.runs):
            paper.append(dry_run(ROOT)[0])
            plain.append(dry_run(Path(bare))[0])
    ratio = statistics.median(paper) / statistics.median(plain)
    print(f"jobs: {sum(counts.values())} in {len(counts)} rules")
    print(f"paper config dry run: median {statistics.median(paper):.1f} s  {[round(s, 1) for s in paper]}")
    print(f"bare Snakefile:       median {statistics.median(plain):.1f} s  {[round(s, 1) for s in plain]}")
    print(f"ratio = {ratio:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
