"""The run's hardware and software versions, as a table for the Snakemake report (rule environment).

Two kinds of rows: the machine and packages of the job that writes the table (a local job, so the machine that
runs Snakemake), and, from the speed benchmark's JSON files, the machine every timing was measured on (on a
cluster the benchmarks may run elsewhere). Versions come from the installed distributions' metadata.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from speedy.bench import cpu_model

PACKAGES = ("snakemake", "torch", "transformers", "datasets", "onnxruntime", "optuna", "numpy", "pandas")
COLUMNS = ["what", "value"]


def package_version(name: str) -> str:
    """The installed version of a distribution, or "not installed"."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def memory_gib(meminfo: Path = Path("/proc/meminfo")) -> str:
    """Total memory from /proc/meminfo in GiB, or "unknown"."""
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    return "unknown"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 0


def gpus() -> str:
    """The CUDA GPUs torch sees, with torch's CUDA version, or a note that it sees none."""
    import torch  # heavy: imported only when a job asks

    if not torch.cuda.is_available():
        return f"none (torch sees no CUDA GPU; CUDA build: {torch.version.cuda or 'none'})"
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return f"{len(names)} × " + ", ".join(dict.fromkeys(names)) + f" (CUDA {torch.version.cuda})"


def timed_on(speed: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """One row per device of the speed benchmark: the CPU, GPU, threads and torch of its timings (each distinct
    setup once, with how many models were timed on it)."""
    setups: dict[str, dict[str, int]] = {}
    for record in speed:
        parts = [f"CPU {record['cpu']}", f"{record['threads']} thread(s)", f"torch {record['torch']}"]
        if record.get("gpu"):
            parts.insert(1, f"GPU {record['gpu']}")
        setup = ", ".join(parts)
        counts = setups.setdefault(record["device"], {})
        counts[setup] = counts.get(setup, 0) + 1
    return [
        {"what": f"speed benchmark on {device}", "value": f"{setup} ({models} model(s))"}
        for device, counts in setups.items()
        for setup, models in counts.items()
    ]


def environment_table(speed: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The machine and versions of this job, then the setup of the speed benchmark's timings (`speed` records)."""
    rows = [
        {"what": "machine", "value": f"{platform.system()} {platform.release()} {platform.machine()}"},
        {"what": "CPU", "value": cpu_model()},
        {"what": "CPU cores", "value": f"{os.cpu_count()} logical, {usable_cores()} usable by this job"},
        {"what": "memory", "value": memory_gib()},
        {"what": "GPU", "value": gpus()},
        {"what": "Python", "value": f"{platform.python_version()} ({platform.python_implementation()})"},
        *({"what": name, "value": package_version(name)} for name in PACKAGES),
        *timed_on(speed),
    ]
    return pd.DataFrame(rows, columns=COLUMNS)
